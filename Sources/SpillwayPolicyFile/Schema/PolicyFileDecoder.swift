import Spillway

/// Turns a parsed policy file into policies, reporting every problem at its line: unknown
/// sections and fields (with a did-you-mean), values of the wrong type, bad units, out-of-range
/// numbers, malformed route names, and contradictions between fields, including ones that only
/// appear when a route and a prefix combine.
struct PolicyFileDecoder {
    private(set) var diagnostics: [PolicyDiagnostic] = []

    /// One layer of overrides, with the line each field was set on.
    struct Layer {
        /// "defaults", "route 'POST /x'" or "prefix 'img:'".
        var name: String
        var overrides = PolicyOverrides()
        var lines: [PolicyField: Int] = [:]
    }

    private var defaults = Layer(name: "defaults")
    private var routes: [(name: String, layer: Layer)] = []
    private var prefixes: [(name: String, layer: Layer)] = []

    /// HTTP methods a route may start with.
    static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]

    private mutating func error(_ location: SourceLocation, _ message: String) {
        diagnostics.append(PolicyDiagnostic(.error, at: location, message))
    }

    private mutating func warning(_ location: SourceLocation, _ message: String) {
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
                    error(entry.keyLocation, "unknown section '\(Self.shown(entry.key))'; expected defaults, routes or prefixes" + Suggestion.didYouMean(entry.key, in: PolicySection.allCases.map(\.rawValue)))
                }
                continue
            }
            switch section {
            case .version:
                if case .scalar("1", _) = entry.value.kind {} else {
                    error(entry.value.location, "unsupported version \(entry.value.typeDescription); the only version is 1")
                }
            case .defaults:
                defaults = decodeLayer(entry.value, name: "defaults", isDefaults: true)
            case .routes:
                for (key, keyLocation, value) in namedEntries(entry.value, section: "routes") {
                    guard checkRouteName(key, at: keyLocation) else { continue }
                    routes.append((key, decodeLayer(value, name: "route '\(key)'", isDefaults: false)))
                }
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
            prefixes: Dictionary(prefixes.map { ($0.name, $0.layer.overrides) }, uniquingKeysWith: { a, _ in a })
        )
    }

    /// The entries of `routes:` or `prefixes:`; null means none.
    private mutating func namedEntries(_ node: PolicyNode, section: String) -> [(String, SourceLocation, PolicyNode)] {
        if node.isNull { return [] }
        guard case .mapping(let entries) = node.kind else {
            error(node.location, "'\(section)' must be a mapping from \(section == "routes" ? "route" : "key prefix") to policy, not \(node.typeDescription)")
            return []
        }
        return entries.map { ($0.key, $0.keyLocation, $0.value) }
    }

    /// A route is `METHOD /path` or `job:name`.
    private mutating func checkRouteName(_ name: String, at location: SourceLocation) -> Bool {
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

    // MARK: - One policy

    private mutating func decodeLayer(_ node: PolicyNode, name: String, isDefaults: Bool) -> Layer {
        var layer = Layer(name: name)
        if node.isNull {
            warning(node.location, "\(name) sets no fields; remove it or add fields")
            return layer
        }
        guard case .mapping(let entries) = node.kind else {
            error(node.location, "\(name) must be a mapping of policy fields, not \(node.typeDescription)")
            return layer
        }
        if entries.isEmpty { warning(node.location, "\(name) sets no fields; remove it or add fields") }
        for entry in entries {
            guard let field = PolicyField(rawValue: entry.key) else {
                error(entry.keyLocation, "unknown field '\(Self.shown(entry.key))' in \(name)" + Suggestion.didYouMean(entry.key, in: PolicyField.allCases.map(\.rawValue)))
                continue
            }
            let value = entry.value
            let line = entry.keyLocation.line
            var set = true
            switch field {
            case .maxKeyBytes:
                if let size = size(value, field: "maxKeyBytes") {
                    if size < CachePolicy.minimumMaxKeyBytes {
                        error(value.location, "maxKeyBytes \(size) is below \(CachePolicy.minimumMaxKeyBytes) (CachePolicy.minimumMaxKeyBytes): a hashed key (\(KeyHasher.suffixBytes) bytes of suffix plus a readable prefix) would not fit")
                        set = false
                    } else {
                        layer.overrides.maxKeyBytes = size
                    }
                } else { set = false }
            case .keyOverflow:
                if let v: KeyOverflow = choice(value, field: "keyOverflow") { layer.overrides.keyOverflow = v } else { set = false }
            case .spillAbove:
                if value.isNull || Self.plainText(value) == "off" {
                    layer.overrides.spillAbove = .some(nil)
                } else if let size = size(value, field: "spillAbove", allowsOff: true) {
                    if size <= 0 {
                        error(value.location, "spillAbove must be a positive size, or 'off' to disable spilling")
                        set = false
                    } else {
                        layer.overrides.spillAbove = .some(size)
                    }
                } else { set = false }
            case .maxValueBytes:
                if let size = size(value, field: "maxValueBytes") {
                    if size <= 0 {
                        error(value.location, "maxValueBytes must be a positive size")
                        set = false
                    } else {
                        layer.overrides.maxValueBytes = size
                    }
                } else { set = false }
            case .requireTTL:
                if let v = bool(value, field: "requireTTL") { layer.overrides.requireTTL = v } else { set = false }
            case .maxTTL:
                if value.isNull || Self.plainText(value) == "none" {
                    if !isDefaults {
                        error(value.location, "\(name) cannot remove maxTTL; leave maxTTL out to inherit it, or give a longer duration")
                    }
                    set = false
                } else if let d = duration(value, field: "maxTTL") {
                    layer.overrides.maxTTL = d
                } else { set = false }
            case .onOOM:
                if let v: DegradeAction = choice(value, field: "onOOM") { layer.overrides.onOOM = v } else { set = false }
            case .onFailure:
                if let v = onFailure(value) { layer.overrides.onFailure = v } else { set = false }
            case .priority:
                if let v: WritePriority = choice(value, field: "priority") { layer.overrides.priority = v } else { set = false }
            case .throttle:
                if let v = throttle(value, owner: name) { layer.overrides.throttle = v } else { set = false }
            }
            if set { layer.lines[field] = line }
        }
        return layer
    }

    // MARK: - Values

    private static func plainText(_ node: PolicyNode) -> String? {
        if case .scalar(let text, .plain) = node.kind { return text }
        return nil
    }

    /// A scalar's text (plain or quoted), or an error naming the field.
    private mutating func text(_ node: PolicyNode, field: String, expected: String) -> String? {
        if case .scalar(let text, _) = node.kind, !node.isNull { return text }
        error(node.location, "\(field) must be \(expected), not \(node.typeDescription)")
        return nil
    }

    private mutating func size(_ node: PolicyNode, field: String, allowsOff: Bool = false) -> Int? {
        let expected = allowsOff ? "a size (4096, 16KiB, 1MiB) or 'off'" : "a size (4096, 16KiB, 1MiB)"
        guard let text = text(node, field: field, expected: expected) else { return nil }
        do throws(UnitError) {
            return try ByteSize.parse(text)
        } catch {
            self.error(node.location, "\(field): \(error.message)")
            return nil
        }
    }

    private mutating func duration(_ node: PolicyNode, field: String) -> Duration? {
        guard let text = text(node, field: field, expected: "a duration (500ms, 90s, 5m, 1h, 1d)") else { return nil }
        do throws(UnitError) {
            let d = try DurationText.parse(text)
            guard d > .zero else {
                error(node.location, "\(field) must be longer than zero")
                return nil
            }
            return d
        } catch {
            self.error(node.location, "\(field): \(error.message)")
            return nil
        }
    }

    private mutating func bool(_ node: PolicyNode, field: String) -> Bool? {
        switch node.kind {
        case .scalar("true", .plain): return true
        case .scalar("false", .plain): return false
        case .scalar(let text, .plain) where ["yes", "on", "y", "True", "TRUE"].contains(text):
            error(node.location, "\(field) must be true or false, not '\(text)'; did you mean 'true'?")
        case .scalar(let text, .plain) where ["no", "off", "n", "False", "FALSE"].contains(text):
            error(node.location, "\(field) must be true or false, not '\(text)'; did you mean 'false'?")
        default:
            error(node.location, "\(field) must be true or false, not \(node.typeDescription)")
        }
        return nil
    }

    private mutating func positiveInteger(_ node: PolicyNode, field: String) -> Int? {
        guard case .scalar(let text, .plain) = node.kind, !node.isNull,
              let first = text.first, first.isNumber || first == "-" || first == "+"
        else {
            error(node.location, "\(field) must be a whole number, not \(node.typeDescription)")
            return nil
        }
        guard let value = Int(text) else {
            error(node.location, "\(field) must be a whole number, not '\(Self.shown(text))'")
            return nil
        }
        guard value >= 1 else {
            error(node.location, "\(field) must be at least 1, not \(value)")
            return nil
        }
        return value
    }

    private mutating func choice<T: RawRepresentable & CaseIterable>(_ node: PolicyNode, field: String) -> T? where T.RawValue == String {
        let names = T.allCases.map(\.rawValue)
        let expected = "one of " + names.joined(separator: ", ")
        guard let text = text(node, field: field, expected: expected) else { return nil }
        if let value = T(rawValue: text) { return value }
        error(node.location, "\(field) must be \(expected), not '\(Self.shown(text))'" + Suggestion.didYouMean(text, in: names))
        return nil
    }

    private mutating func onFailure(_ node: PolicyNode) -> [OtherFailureClass: DegradeAction]? {
        guard case .mapping(let entries) = node.kind else {
            error(node.location, "onFailure must be a mapping from failure class to action ({timeout: shed}), not \(node.typeDescription)")
            return nil
        }
        var out: [OtherFailureClass: DegradeAction] = [:]
        var ok = true
        let names = OtherFailureClass.allCases.map(\.rawValue)
        for entry in entries {
            if entry.key == FailureClass.outOfMemory.rawValue {
                error(entry.keyLocation, "set the out-of-memory action with 'onOOM', not onFailure.outOfMemory")
                ok = false
                continue
            }
            guard let failure = OtherFailureClass(rawValue: entry.key) else {
                error(entry.keyLocation, "unknown failure class '\(Self.shown(entry.key))' in onFailure; expected one of \(names.joined(separator: ", "))" + Suggestion.didYouMean(entry.key, in: names))
                ok = false
                continue
            }
            if let action: DegradeAction = choice(entry.value, field: "onFailure.\(entry.key)") {
                out[failure] = action
            } else {
                ok = false
            }
        }
        return ok ? out : nil
    }

    private mutating func throttle(_ node: PolicyNode, owner: String) -> ThrottlePolicy? {
        guard case .mapping(let entries) = node.kind else {
            error(node.location, "throttle must be a mapping ({limit: 100, period: 1m}), not \(node.typeDescription)")
            return nil
        }
        var limit: Int?
        var period: Duration?
        var burst: Int?
        var mode = ThrottleFailureMode.local
        var share = 0.5
        var ok = true
        for entry in entries {
            guard let field = ThrottleField(rawValue: entry.key) else {
                error(entry.keyLocation, "unknown field '\(Self.shown(entry.key))' in the throttle of \(owner)" + Suggestion.didYouMean(entry.key, in: ThrottleField.allCases.map(\.rawValue)))
                ok = false
                continue
            }
            let value = entry.value
            switch field {
            case .limit:
                limit = positiveInteger(value, field: "throttle.limit")
                ok = ok && limit != nil
            case .period:
                period = duration(value, field: "throttle.period")
                ok = ok && period != nil
            case .burst:
                burst = positiveInteger(value, field: "throttle.burst")
                ok = ok && burst != nil
            case .onCacheFailure:
                if let m: ThrottleFailureMode = choice(value, field: "throttle.onCacheFailure") { mode = m } else { ok = false }
            case .localShare:
                if let s = fraction(value, field: "throttle.localShare") { share = s } else { ok = false }
            }
        }
        let has = Set(entries.compactMap { ThrottleField(rawValue: $0.key) })
        if !has.contains(.limit) {
            error(node.location, "the throttle of \(owner) needs a 'limit'")
            ok = false
        }
        if !has.contains(.period) {
            error(node.location, "the throttle of \(owner) needs a 'period'")
            ok = false
        }
        guard ok, let limit, let period else { return nil }
        return ThrottlePolicy(limit: limit, period: period, burst: burst, onCacheFailure: mode, localShare: share)
    }

    private mutating func fraction(_ node: PolicyNode, field: String) -> Double? {
        guard case .scalar(let text, .plain) = node.kind, !node.isNull, let value = Double(text), value.isFinite,
              text.first.map({ $0.isNumber || $0 == "-" || $0 == "." }) == true
        else {
            error(node.location, "\(field) must be a number in (0, 1], not \(node.typeDescription)")
            return nil
        }
        guard value > 0 && value <= 1 else {
            error(node.location, "\(field) must be greater than 0 and at most 1, not \(text)")
            return nil
        }
        return value
    }

    // MARK: - Contradictions

    /// Checks `spillAbove < maxValueBytes` for the defaults, every route, every prefix (with the
    /// shorter prefixes it extends), and every route combined with every prefix (the policy an
    /// operation really gets). Each contradiction
    /// is reported once, at the line of the more specific of the two fields.
    private mutating func checkContradictions() {
        var reported = Set<[Int]>()
        func check(_ layers: [Layer], context: String) {
            var spill: (value: Int?, line: Int?, from: String) = (CachePolicy().spillAbove, nil, "built-in default")
            var limit: (value: Int, line: Int?, from: String) = (CachePolicy().maxValueBytes, nil, "built-in default")
            var spillSet = false
            var limitSet = false
            for layer in layers.reversed() {
                if !spillSet, let s = layer.overrides.spillAbove {
                    spill = (s, layer.lines[.spillAbove], layer.name)
                    spillSet = true
                }
                if !limitSet, let m = layer.overrides.maxValueBytes {
                    limit = (m, layer.lines[.maxValueBytes], layer.name)
                    limitSet = true
                }
            }
            guard let spillValue = spill.value, spillValue >= limit.value else { return }
            let key = [spill.line ?? 0, limit.line ?? 0]
            guard reported.insert(key).inserted else { return }
            let line = max(spill.line ?? 0, limit.line ?? 0)
            func origin(_ line: Int?, _ from: String) -> String {
                line.map { "\(from), line \($0)" } ?? from
            }
            error(
                SourceLocation(line: max(line, 1), column: 1),
                "spillAbove \(ByteSize.format(spillValue)) (\(origin(spill.line, spill.from))) is not below maxValueBytes \(ByteSize.format(limit.value)) (\(origin(limit.line, limit.from)))\(context): values above maxValueBytes are refused, so nothing would ever be spilled"
            )
        }
        // A longer prefix inherits from the shorter prefixes it extends, as in `PolicyTable`.
        let chains: [(name: String, layers: [Layer])] = prefixes.map { entry in
            let chain = prefixes.filter { entry.name.hasPrefix($0.name) }
                .sorted { $0.name.utf8.count < $1.name.utf8.count }
                .map(\.layer)
            return (entry.layer.name, chain)
        }
        check([defaults], context: "")
        for route in routes { check([defaults, route.layer], context: "") }
        for chain in chains { check([defaults] + chain.layers, context: "") }
        for route in routes {
            for chain in chains {
                check([defaults, route.layer] + chain.layers, context: " when \(route.layer.name) writes a key under \(chain.name)")
            }
        }
    }

    /// A name cut short for messages.
    static func shown(_ text: String) -> String {
        text.count > 60 ? String(text.prefix(60)) + "…" : text
    }
}
