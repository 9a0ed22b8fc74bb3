/// One node of a parsed policy file: a scalar, a mapping or a list, with the place it starts.
///
/// The parser keeps every node's line and column so that validation can point at the exact line
/// of a bad value, an unknown field or one side of a contradiction.
public struct PolicyNode: Sendable, Hashable {
    /// What the node holds.
    public enum Kind: Sendable, Hashable {
        /// A scalar: the text as written (unquoted, escapes resolved) and how it was quoted.
        case scalar(String, ScalarStyle)
        /// A mapping, in file order. Keys are unique (the parser reports duplicates).
        case mapping([PolicyMappingEntry])
        /// A list (only flow lists, `[a, b]`, exist in the format; no policy field takes one).
        case list([PolicyNode])
    }

    /// How a scalar was written.
    public enum ScalarStyle: Sendable, Hashable {
        /// Without quotes: `256`, `hash`, `true`, `null`.
        case plain
        /// In single or double quotes: always a string.
        case quoted
    }

    /// The node's content.
    public var kind: Kind
    /// Where the node starts.
    public var location: SourceLocation

    /// Creates a node.
    public init(_ kind: Kind, at location: SourceLocation) {
        self.kind = kind
        self.location = location
    }

    /// Whether the node is a plain `null`, `~` or an empty value.
    public var isNull: Bool {
        if case .scalar(let text, .plain) = kind { return text.isEmpty || text == "null" || text == "~" }
        return false
    }

    /// A short name of the node's type, for error messages ("a mapping", "the number 5").
    public var typeDescription: String {
        switch kind {
        case .mapping: return "a mapping"
        case .list: return "a list"
        case .scalar(let text, let style):
            if isNull { return "nothing (null)" }
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            return style == .quoted ? "the string \"\(shown)\"" : "'\(shown)'"
        }
    }
}

/// One `key: value` pair of a mapping.
public struct PolicyMappingEntry: Sendable, Hashable {
    /// The key's text.
    public var key: String
    /// Where the key is written.
    public var keyLocation: SourceLocation
    /// The value.
    public var value: PolicyNode

    /// Creates an entry.
    public init(key: String, keyLocation: SourceLocation, value: PolicyNode) {
        self.key = key
        self.keyLocation = keyLocation
        self.value = value
    }
}
