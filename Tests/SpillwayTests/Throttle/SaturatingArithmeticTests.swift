import Spillway
import Testing

/// The GCRA arithmetic saturates instead of wrapping or trapping.
@Suite("GCRA: saturating arithmetic")
struct SaturatingArithmeticTests {
    @Test("a window beyond Int64 nanoseconds saturates: a rested key is allowed, never wrapped into a denial")
    func hugeWindow() {
        let parameters = GCRAParameters(emissionInterval: .seconds(1_000_000_000), capacity: 1_000_000_000)
        #expect(parameters.windowNanoseconds == .max)
        let step = GCRA.step(storedTAT: nil, now: 1_800_000_000_000_000_000, parameters: parameters)
        #expect(step.decision.allowed)
        #expect(step.decision.remaining >= 0)
        #expect(step.newTAT != nil)
    }

    @Test("a TAT near Int64.max saturates: no wrapped (negative) reset time or TTL")
    func tatNearMax() {
        let parameters = GCRAParameters(limit: 1, period: .seconds(60))
        let step = GCRA.step(storedTAT: .max - 10, now: .max - 20, parameters: parameters)
        #expect(step.decision.resetAfter >= .zero, "\(step.decision)")
        #expect(step.decision.retryAfter >= .zero, "\(step.decision)")
        #expect(step.ttlNanoseconds > 0)
        #expect(step.newTAT.map { $0 >= .max - 10 } ?? true, "the TAT never wraps backwards")
    }
}
