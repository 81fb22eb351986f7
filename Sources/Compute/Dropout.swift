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
        let (input, output) = (x.data, y.data)
        for i in 0..<(n * c) { output[i] = input[i] * mask[i] }
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let dims = lastDims else { throw ComputeError("Dropout.backward called before forward") }
        guard computesInputGradient else { return nil }
        guard lastTraining else { return dy }
        let dx = outputs[dims]!.dx
        let (gradient, inputGradient) = (dy.data, dx.data)
        for i in 0..<mask.count { inputGradient[i] = gradient[i] * mask[i] }
        return dx
    }
}
