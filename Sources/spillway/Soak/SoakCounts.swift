import Spillway

/// What one worker saw.
struct SoakCounts: Sendable {
    var requests = 0
    var operations: [String: Int] = [:]
    var errors: [String: Int] = [:]
    var limiter: [String: Int] = [:]
    var outcomes: [String: Int] = [:]
    var hits = 0
    var wrongBytes = 0

    mutating func record(_ outcome: WriteOutcome) {
        let name: String
        switch outcome {
        case .stored: name = "stored"
        case .conditionNotMet: name = "condition not met"
        case .dropped(let code): name = "dropped (\(code))"
        case .storedLocally(let code): name = "stored locally (\(code))"
        }
        outcomes[name, default: 0] += 1
    }

    mutating func merge(_ other: SoakCounts) {
        requests += other.requests
        hits += other.hits
        wrongBytes += other.wrongBytes
        operations.merge(other.operations, uniquingKeysWith: +)
        errors.merge(other.errors, uniquingKeysWith: +)
        limiter.merge(other.limiter, uniquingKeysWith: +)
        outcomes.merge(other.outcomes, uniquingKeysWith: +)
    }
}
