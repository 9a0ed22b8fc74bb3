import Spillway

/// Scalar values: text, sizes, durations, booleans, whole numbers, fractions and named choices,
/// each reported at its line with the field's name when it does not fit.
extension PolicyFileDecoder {
    static func plainText(_ node: PolicyNode) -> String? {
        if case .scalar(let text, .plain) = node.kind { return text }
        return nil
    }

    /// A scalar's text (plain or quoted), or an error naming the field.
    mutating func text(_ node: PolicyNode, field: String, expected: String) -> String? {
        if case .scalar(let text, _) = node.kind, !node.isNull { return text }
        error(node.location, "\(field) must be \(expected), not \(node.typeDescription)")
        return nil
    }

    mutating func size(_ node: PolicyNode, field: String, allowsOff: Bool = false) -> Int? {
        let expected = allowsOff ? "a size (4096, 16KiB, 1MiB) or 'off'" : "a size (4096, 16KiB, 1MiB)"
        guard let text = text(node, field: field, expected: expected) else { return nil }
        do throws(UnitError) {
            return try ByteSize.parse(text)
        } catch {
            self.error(node.location, "\(field): \(error.message)")
            return nil
        }
    }

    mutating func duration(_ node: PolicyNode, field: String) -> Duration? {
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

    mutating func bool(_ node: PolicyNode, field: String) -> Bool? {
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

    mutating func positiveInteger(_ node: PolicyNode, field: String) -> Int? {
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

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: PolicyNode, field: String) -> T? where T.RawValue == String {
        let names = T.allCases.map(\.rawValue)
        let expected = "one of " + names.joined(separator: ", ")
        guard let text = text(node, field: field, expected: expected) else { return nil }
        if let value = T(rawValue: text) { return value }
        error(node.location, "\(field) must be \(expected), not '\(Self.shown(text))'" + Suggestion.didYouMean(text, in: names))
        return nil
    }

    mutating func fraction(_ node: PolicyNode, field: String) -> Double? {
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
}
