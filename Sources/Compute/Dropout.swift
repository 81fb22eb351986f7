// Inverted dropout on plain [N, C] features, with masks drawn from the pass's seed.
#if canImport(Glibc)
import Glibc
#endif

/// Training: y = x * m / keep with m ~ Bernoulli(keep), a fresh mask per pass; inference: y = x.
/// The mask for sample n comes from `SplitMix64(seed, n)`, so it depends only on the pass seed and
/// the sample's position, not on the process or thread that runs it.
public final class Dropout: Layer {
    public let rate: Float
    public var computesInputGradient = true
    public var computesParameterGradients = true
    private let engine: Engine
    private var outputs: [[Int]: (y: Tensor, dx: Tensor)] = [:]
    private var mask: [Float] = []
    private var lastDims: [Int]?
    private var lastTraining = false

    /// - Parameter rate: probability of dropping a feature, in [0, 1).
    public init(rate: Float, engine: Engine = .cpu) {
        precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
        self.rate = rate
        self.engine = engine
    }

    public func outputDims(for input: [Int]) -> [Int] { input }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        lastDims = x.dims
        guard case .training(let seed) = mode, rate > 0 else { lastTraining = false; return x }
        precondition(x.layout == .nc, "dropout expects plain [N, C] features")
        lastTraining = true
        if outputs[x.dims] == nil {
            outputs[x.dims] = (try Tensor(x.dims, layout: .nc, engine: engine), try Tensor(x.dims, layout: .nc, engine: engine))
        }
        let y = outputs[x.dims]!.y
        let n = x.dims[0], c = x.dims[1], keep = 1 - rate, scale = 1 / keep
        if mask.count != n * c { mask = [Float](repeating: 0, count: n * c) }
        for s in 0..<n {
            var rng = SplitMix64(seed: seed, stream: UInt64(s))
            for j in 0..<c { mask[s * c + j] = rng.nextUnit() < keep ? scale : 0 }
        }
        for i in 0..<(n * c) { y.data[i] = x.data[i] * mask[i] }
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let dims = lastDims else { throw ComputeError("Dropout.backward called before forward") }
        guard computesInputGradient else { return nil }
        guard lastTraining else { return dy }
        let dx = outputs[dims]!.dx
        for i in 0..<mask.count { dx.data[i] = dy.data[i] * mask[i] }
        return dx
    }
}

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
