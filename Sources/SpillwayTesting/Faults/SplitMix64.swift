/// A small, fast, seeded pseudo-random generator (SplitMix64, Steele, Lea and Flood 2014).
///
/// The same seed always gives the same sequence, on every platform and release, so a fault
/// schedule that says "probability 0.1, seed 42" injects on exactly the same calls every run.
/// It is not cryptographic.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    /// The generator's state; each call advances it by a fixed odd constant.
    public var state: UInt64

    /// Creates a generator from a seed.
    @inlinable
    public init(seed: UInt64) { self.state = seed }

    /// The next 64 random bits.
    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniformly distributed `Double` in `0 ..< 1`, from the top 53 bits of ``next()``.
    @inlinable
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}
