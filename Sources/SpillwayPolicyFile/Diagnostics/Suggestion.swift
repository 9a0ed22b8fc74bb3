/// "Did you mean …?" for misspelt field names and values.
enum Suggestion {
    /// The candidate closest to `word`, if one is close enough to be a likely typo: equal ignoring
    /// case, or within an edit distance of about a third of the word's length (at most 3).
    static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        let lower = Array(word.lowercased().unicodeScalars.prefix(64))
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let c = Array(candidate.lowercased().unicodeScalars)
            if c == lower { return candidate }
            let d = distance(lower, c)
            if best == nil || d < best!.distance { best = (candidate, d) }
        }
        guard let best else { return nil }
        let allowed = min(3, max(1, lower.count / 3))
        return best.distance <= allowed ? best.name : nil
    }

    /// ` (did you mean 'x'?)`, or an empty string.
    static func didYouMean(_ word: String, in candidates: some Sequence<String>) -> String {
        closest(to: word, in: candidates).map { "; did you mean '\($0)'?" } ?? ""
    }

    /// Levenshtein distance between two scalar arrays.
    static func distance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
