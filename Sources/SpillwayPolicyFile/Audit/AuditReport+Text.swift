extension AuditReport {
    /// The report for people: totals, violations, top prefixes, payload-looking keys, savings.
    /// - Parameter listLimit: how many violations and payload keys to print.
    public func text(listLimit: Int = 50) -> String {
        var out: [String] = []
        let ofTotal = keysInDatabase.map { " of \($0)" } ?? ""
        out.append("Scanned \(keysScanned)\(ofTotal) keys, \(ByteSize.human(totalBytes)) in memory.")
        if violationTotal == 0 {
            out.append("No key violates its policy.")
        } else {
            let kinds = AuditReport.Violation.Kind.allCases.compactMap { kind in
                violationCounts[kind.rawValue].map { "\($0) \(kind.rawValue)" }
            }
            out.append("")
            out.append("VIOLATIONS: \(violationTotal) (\(kinds.joined(separator: ", ")))")
            for v in violations.prefix(listLimit) {
                out.append("  \(v.kind.rawValue)  \(v.key) (\(v.keyBytes) bytes key, \(v.policy)): \(v.detail)")
            }
            if violationTotal > min(listLimit, violations.count) {
                out.append("  … and \(violationTotal - min(listLimit, violations.count)) more")
            }
        }
        if !topPrefixes.isEmpty {
            out.append("")
            out.append("TOP PREFIXES BY MEMORY:")
            for p in topPrefixes {
                out.append("  \(p.prefix)  \(p.keys) keys, \(ByteSize.human(p.bytes)), \(p.violations) violations")
            }
        }
        if payloadKeyCount > 0 {
            out.append("")
            out.append("PAYLOAD-LOOKING KEYS: \(payloadKeyCount)")
            for k in payloadKeys.prefix(listLimit) {
                out.append("  \(k.key) (\(k.keyBytes) bytes): \(k.reason)")
            }
        }
        out.append("")
        out.append("Hashing over-long keys would save \(ByteSize.human(bytesSavedByHashing)); spilling values above spillAbove would move \(ByteSize.human(bytesSavedBySpilling)) out of the cache.")
        return out.joined(separator: "\n")
    }
}
