import Spillway

/// A policy's `throttle:` mapping.
extension PolicyFileDecoder {
    mutating func throttle(_ node: PolicyNode, owner: String) -> ThrottlePolicy? {
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
        // The GCRA window is (period / limit) × burst, in nanoseconds: it must fit an Int64.
        let capacity = Int64(burst ?? limit)
        let periodNanoseconds = period.nanoseconds
        let overflow = (periodNanoseconds / Int64(limit)).multipliedReportingOverflow(by: capacity).overflow
        if periodNanoseconds == .max || overflow {
            error(node.location, "the throttle of \(owner): burst × period overflows (\(capacity) × \(DurationText.format(period)) / \(limit) is more than 292 years in nanoseconds); use a smaller burst or a shorter period")
            return nil
        }
        return ThrottlePolicy(limit: limit, period: period, burst: burst, onCacheFailure: mode, localShare: share)
    }
}
