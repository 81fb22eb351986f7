// The one seeded random generator of the project: initialisation, data order, augmentation, dropout
// and test data all draw from SplitMix64 streams, so every choice is reproducible in any process.
#if canImport(Glibc)
import Glibc
#endif

/// A small, fast, splittable generator (Steele et al., "Fast splittable pseudorandom number
/// generators", 2014). `stream` derives independent sequences from one seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
    private var state: UInt64

    /// NOTE: every generator walks the same sequence state += gamma, so (seed, stream) must pick a
    /// far-apart starting point: the start is a hash of both. (Starting at seed + stream * gamma made
    /// stream k + 1 the sequence of stream k shifted by one draw, so dropout masks of consecutive
    /// samples were shifted copies of each other.)
    public init(seed: UInt64, stream: UInt64 = 0) {
        state = Self.mix(seed &+ Self.mix(stream &+ Self.gamma))
    }

    public mutating func next() -> UInt64 {
        state &+= Self.gamma
        return Self.mix(state)
    }

    /// SplitMix64's output function (a 64-bit finaliser): a bijection that scatters nearby inputs.
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func nextUnit() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal (Box-Muller).
    public mutating func nextNormal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
