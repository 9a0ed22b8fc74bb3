import Spillway

/// One policy (the defaults, a route or a prefix): its fields, each checked and set with its line.
extension PolicyFileDecoder {
    mutating func decodeLayer(_ node: PolicyNode, name: String, isDefaults: Bool) -> Layer {
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
                } else {
                    set = false
                }
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
                } else {
                    set = false
                }
            case .maxValueBytes:
                if let size = size(value, field: "maxValueBytes") {
                    if size <= 0 {
                        error(value.location, "maxValueBytes must be a positive size")
                        set = false
                    } else {
                        layer.overrides.maxValueBytes = size
                    }
                } else {
                    set = false
                }
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
                } else {
                    set = false
                }
            case .onOOM:
                if let v: DegradeAction = choice(value, field: "onOOM") { layer.overrides.onOOM = v } else { set = false }
            case .onFailure:
                if let v = onFailure(value) { layer.overrides.onFailure = v } else { set = false }
            case .onReadFailure:
                if let v: ReadFailureAction = choice(value, field: "onReadFailure") { layer.overrides.onReadFailure = v } else { set = false }
            case .priority:
                if let v: WritePriority = choice(value, field: "priority") { layer.overrides.priority = v } else { set = false }
            case .throttle:
                if let v = throttle(value, owner: name) { layer.overrides.throttle = v } else { set = false }
            }
            if set { layer.lines[field] = line }
        }
        return layer
    }

    mutating func onFailure(_ node: PolicyNode) -> [OtherFailureClass: DegradeAction]? {
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
}
