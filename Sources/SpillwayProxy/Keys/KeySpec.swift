/// One key specification of a Redis command, as `COMMAND` describes it (Redis 7): where the
/// search for keys begins, and how the keys are found from there.
///
/// ``keyIndices(in:)`` follows Redis's own `getKeysUsingKeySpecs`, so the proxy finds the same
/// arguments Redis treats as keys, for every command the upstream knows, modules included.
public struct KeySpec: Sendable, Hashable {
    /// Where the search begins.
    public enum BeginSearch: Sendable, Hashable {
        /// At a fixed argument index (the name is index 0).
        case index(Int)
        /// One past the first argument equal (case-insensitively) to `keyword`, searching from
        /// `startFrom` forwards, or from the end backwards when `startFrom` is negative.
        case keyword(String, startFrom: Int)
        /// Not describable: the keys depend on the arguments' content.
        case unknown
    }

    /// How the keys are found from where the search began.
    public enum FindKeys: Sendable, Hashable {
        /// Keys from the first to `lastKey` (relative to the first; negative: from the end of the
        /// arguments), every `keyStep`, limited to `1/limit` of the rest when `limit` is not 0.
        case range(lastKey: Int, keyStep: Int, limit: Int)
        /// A count of keys at `keyNumIndex` (relative to the first), then the keys starting
        /// `firstKey` after the first, every `keyStep` (`EVAL script numkeys key…`).
        case keynum(keyNumIndex: Int, firstKey: Int, keyStep: Int)
        /// Not describable.
        case unknown
    }

    /// Where the search begins.
    public var beginSearch: BeginSearch
    /// How the keys are found.
    public var findKeys: FindKeys
    /// Whether Redis flags the spec `incomplete` (it may miss keys).
    public var incomplete: Bool

    /// Creates a spec.
    public init(beginSearch: BeginSearch, findKeys: FindKeys, incomplete: Bool = false) {
        self.beginSearch = beginSearch
        self.findKeys = findKeys
        self.incomplete = incomplete
    }

    /// Whether the spec finds every key it describes by itself (no `unknown` part, not
    /// `incomplete`).
    public var isComplete: Bool {
        if incomplete { return false }
        if case .unknown = beginSearch { return false }
        if case .unknown = findKeys { return false }
        return true
    }

    /// The indices of the key arguments this spec finds in `arguments` (the name at index 0),
    /// ascending; an argument list that does not fit the spec finds none.
    /// - Parameter upper: the argument at an index, in upper case (for keyword searches), and the
    ///   decimal integer at an index (for key counts).
    public func keyIndices(count argc: Int, upper: (Int) -> String?, integer: (Int) -> Int?) -> [Int] {
        var first = 0
        switch beginSearch {
        case .index(let index):
            first = index
        case .keyword(let keyword, let startFrom):
            let word = keyword.uppercased()
            if startFrom > 0 {
                var i = startFrom
                while i < argc - 1 {
                    if upper(i) == word {
                        first = i + 1
                        break
                    }
                    i += 1
                }
            } else {
                var i = argc + startFrom
                while i >= 1 {
                    if i < argc - 1, upper(i) == word {
                        first = i + 1
                        break
                    }
                    i -= 1
                }
            }
            if first == 0 { return [] }
        case .unknown:
            return []
        }
        guard first >= 1, first < argc else { return [] }
        var last: Int
        var step: Int
        switch findKeys {
        case .range(let lastKey, let keyStep, let limit):
            step = keyStep
            if lastKey >= 0 {
                last = first + lastKey
            } else if limit == 0 {
                last = argc + lastKey
            } else {
                last = first + ((argc - first) / limit + lastKey)
            }
        case .keynum(let keyNumIndex, let firstKey, let keyStep):
            step = keyStep
            guard first + keyNumIndex < argc, let count = integer(first + keyNumIndex), count >= 0 else { return [] }
            first += firstKey
            last = first + (count - 1) * max(step, 1)
            if count == 0 { return [] }
        case .unknown:
            return []
        }
        step = max(step, 1)
        last = min(last, argc - 1)
        guard first <= last else { return [] }
        return Array(stride(from: first, through: last, by: step))
    }
}
