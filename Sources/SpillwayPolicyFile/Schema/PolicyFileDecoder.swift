import Spillway

/// Turns a parsed policy file into policies, reporting every problem at its line: unknown
/// sections and fields (with a did-you-mean), values of the wrong type, bad units, out-of-range
/// numbers, malformed route names, and contradictions between fields, including ones that only
/// appear when a route and a prefix combine.
///
/// This file holds the state, the sections and route names; one policy's fields are in
/// `PolicyFileDecoder+Layer`, scalar values in `+Values`, the throttle in `+Throttle`, and the
/// checks across fields and layers in `+Contradictions`.
struct PolicyFileDecoder {
    private(set) var diagnostics: [PolicyDiagnostic] = []

    /// One layer of overrides, with the line each field was set on.
    struct Layer {
        /// "defaults", "route 'POST /x'" or "prefix 'img:'".
        var name: String
        var overrides = PolicyOverrides()
        var lines: [PolicyField: Int] = [:]
    }

    var defaults = Layer(name: "defaults")
    var routes: [(name: String, layer: Layer)] = []
    var prefixes: [(name: String, layer: Layer)] = []
    var requireSecret = false

    /// HTTP methods a route may start with.
    static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]

    mutating func error(_ location: SourceLocation, _ message: String) {
        diagnostics.append(PolicyDiagnostic(.error, at: location, message))
    }

    mutating func warning(_ location: SourceLocation, _ message: String) {
        diagnostics.append(PolicyDiagnostic(.warning, at: location, message))
    }

    // MARK: - Sections

    mutating func decode(_ root: PolicyNode?, syntaxErrors: Bool) -> PolicyFile {
        guard let root else {
            if !syntaxErrors {
                error(SourceLocation(line: 1, column: 1), "the policy file is empty; it needs at least a 'defaults' section")
            }
            return PolicyFile()
        }
        guard case .mapping(let entries) = root.kind else {
            error(root.location, "the policy file must be a mapping with the sections defaults, routes and prefixes, not \(root.typeDescription)")
            return PolicyFile()
        }
        for entry in entries {
            guard let section = PolicySection(rawValue: entry.key) else {
                if PolicyField(rawValue: entry.key) != nil {
                    error(entry.keyLocation, "'\(entry.key)' is a policy field; put it under 'defaults:', a route or a prefix")
                } else {
                    error(entry.keyLocation, "unknown section '\(Self.shown(entry.key))'; expected defaults, routes, prefixes or requireSecret" + Suggestion.didYouMean(entry.key, in: PolicySection.allCases.map(\.rawValue)))
                }
                continue
            }
            switch section {
            case .version:
                if case .scalar("1", _) = entry.value.kind {
                } else {
                    error(entry.value.location, "unsupported version \(entry.value.typeDescription); the only version is 1")
                }
            case .defaults:
                defaults = decodeLayer(entry.value, name: "defaults", isDefaults: true)
            case .routes:
                for (key, keyLocation, value) in namedEntries(entry.value, section: "routes") {
                    guard checkRouteName(key, at: keyLocation) else { continue }
                    routes.append((key, decodeLayer(value, name: "route '\(key)'", isDefaults: false)))
                }
            case .requireSecret:
                if let v = bool(entry.value, field: "requireSecret") { requireSecret = v }
            case .prefixes:
                for (key, keyLocation, value) in namedEntries(entry.value, section: "prefixes") {
                    if key.isEmpty {
                        error(keyLocation, "a key prefix cannot be empty; put policies for every key under 'defaults'")
                        continue
                    }
                    prefixes.append((key, decodeLayer(value, name: "prefix '\(key)'", isDefaults: false)))
                }
            }
        }
        checkContradictions()
        let base = defaults.overrides.applied(to: CachePolicy())
        return PolicyFile(
            defaults: base,
            routes: Dictionary(routes.map { ($0.name, $0.layer.overrides) }, uniquingKeysWith: { a, _ in a }),
            prefixes: Dictionary(prefixes.map { ($0.name, $0.layer.overrides) }, uniquingKeysWith: { a, _ in a }),
            requireSecret: requireSecret
        )
    }

    /// The entries of `routes:` or `prefixes:`; null means none.
    mutating func namedEntries(_ node: PolicyNode, section: String) -> [(String, SourceLocation, PolicyNode)] {
        if node.isNull { return [] }
        guard case .mapping(let entries) = node.kind else {
            error(node.location, "'\(section)' must be a mapping from \(section == "routes" ? "route" : "key prefix") to policy, not \(node.typeDescription)")
            return []
        }
        return entries.map { ($0.key, $0.keyLocation, $0.value) }
    }

    /// A route is `METHOD /path` or `job:name`.
    mutating func checkRouteName(_ name: String, at location: SourceLocation) -> Bool {
        let shownName = Self.shown(name)
        if name.hasPrefix("job:") {
            let job = name.dropFirst(4)
            guard !job.isEmpty, !job.contains(where: \.isWhitespace) else {
                error(location, "job route '\(shownName)' needs a name without spaces after 'job:' (job:resize)")
                return false
            }
            return true
        }
        let parts = name.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            error(location, "route '\(shownName)' must be an HTTP method and a path ('POST /orders/upload') or a job ('job:resize')")
            return false
        }
        let method = String(parts[0])
        let path = parts[1]
        var ok = true
        if !Self.methods.contains(method) {
            if Self.methods.contains(method.uppercased()) {
                error(location, "write the HTTP method in capitals: '\(method.uppercased()) \(Self.shown(String(path)))'")
            } else {
                error(location, "unknown HTTP method '\(Self.shown(method))' in route '\(shownName)'" + Suggestion.didYouMean(method, in: Self.methods))
            }
            ok = false
        }
        if !path.hasPrefix("/") || path.contains(where: \.isWhitespace) {
            error(location, "the path of route '\(shownName)' must start with '/' and contain no spaces")
            ok = false
        }
        return ok
    }

    /// A name cut short for messages.
    static func shown(_ text: String) -> String {
        text.count > 60 ? String(text.prefix(60)) + "…" : text
    }
}
