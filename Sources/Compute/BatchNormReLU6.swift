// Batch normalisation and ReLU6 as one layer, on our kernels (Sources/CKernels): two passes over
// memory forward (statistics; normalise and clip) and two backward (sums; input gradient), where
// oneDNN's batch norm and eltwise primitives, one after the other, make five passes each way.
internal import CKernels

/// y = min(max(gamma * (x - mean) / sqrt(variance + epsilon) + beta, 0), 6) over the channels of
/// [N, C, H, W] nChw8c or nChw16c activations: BatchNorm followed by ReLU6, with the same rules.
///
/// Training mode normalises with the batch mean and biased variance (over N*H*W, in f64) and
/// keeps them for ``lastBatchStatistics``; it never touches the running statistics. Inference mode
/// normalises with the running statistics, and backward then treats them as constants (frozen
/// BN). ReLU6's derivative is 1 where the output is strictly inside (0, 6), else 0. Parameters:
/// gamma [C], beta [C]; statistics (not trained): running mean [C], running variance [C]. Each
/// channel's sums are added in one fixed order, so the results do not depend on the thread count.
///
/// x and dy may be f32 or bf16 (what a bf16 convolution writes). The output y can be bf16
/// (``outputElement``, for a bf16 convolution after this layer) and the input gradient dx likewise
/// (``inputGradientElement``, for the bf16 convolution before it). Statistics, sums and the maths
/// stay f32/f64; only the stored results are rounded (to nearest even).
public final class BatchNormReLU6: Layer, BatchStatisticsReporting {
    public let channels: Int
    public let epsilon: Float
    public var computesInputGradient = true
    public var computesParameterGradients = true
    /// What y is stored in.
    public var outputElement: ElementType = .f32
    /// What dx is stored in.
    public var inputGradientElement: ElementType = .f32
    private let gamma: ParameterSlice, beta: ParameterSlice
    private let runningMean: UnsafeMutablePointer<Float>, runningVariance: UnsafeMutablePointer<Float>
    private let engine: Engine
    /// Channels padded to whole blocks of 16, the wider layout's (the per-channel vectors' length;
    /// padding entries are 0).
    private let padded: Int
    /// Per channel, from the last forward: y = relu6(scale * x + shift), with mean and 1/sqrt(var + eps).
    private var scale: [Float], shift: [Float], mean: [Float], inverseDeviation: [Double]
    /// The last training forward's batch statistics [C].
    private var batch: (mean: [Float], variance: [Float])?
    /// f64 partial sums, 16 per (image, group of 8 channels).
    private var scratch: [Double] = []
    /// Per channel, reused every step: the batch (or running) mean and variance; the backward's two
    /// sums; the input gradient's offset and slope.
    private var statisticsMean: [Double], statisticsVariance: [Double], sum: [Double], centred: [Double]
    private var offset: [Float], slope: [Float]
    private var outputs: [ShapeKey: Tensor] = [:]
    private var inputGradients: [ShapeKey: Tensor] = [:]
    private var last: (input: Tensor, training: Bool)?

    /// - Parameters:
    ///   - runningMean, runningVariance: C floats each in the flat statistics buffer.
    public init(channels: Int, epsilon: Float = 1e-3, gamma: ParameterSlice, beta: ParameterSlice,
                runningMean: UnsafeMutablePointer<Float>, runningVariance: UnsafeMutablePointer<Float>,
                engine: Engine = .cpu) {
        precondition(gamma.count == channels && beta.count == channels)
        self.channels = channels; self.epsilon = epsilon
        self.gamma = gamma; self.beta = beta
        self.runningMean = runningMean; self.runningVariance = runningVariance
        self.engine = engine
        padded = (channels + 15) / 16 * 16
        scale = [Float](repeating: 0, count: padded)
        shift = scale; mean = scale
        inverseDeviation = [Double](repeating: 0, count: padded)
        statisticsMean = inverseDeviation; statisticsVariance = inverseDeviation; sum = inverseDeviation; centred = inverseDeviation
        offset = scale; slope = scale
    }

    public func outputDims(for input: [Int]) -> [Int] { input }

    public var lastBatchStatistics: (mean: [Float], variance: [Float])? {
        guard let last, last.training else { return nil }
        return batch
    }

    /// (N, groups of 8 channels, H*W, channels per block) of `x`, which must be nChw8c or nChw16c
    /// with this layer's channels (padded to whole blocks: 24 channels are 3 groups in nChw8c, 4 in nChw16c).
    private func geometry(_ x: Tensor) throws -> (n: Int, groups: Int, plane: Int, width: Int) {
        let width = x.layout.channelBlock
        guard width == 8 || width == 16, x.dims.count == 4, x.dims[1] == channels else {
            throw ComputeError("batch norm + ReLU6 over \(channels) channels expects nChw8c or nChw16c [N, \(channels), H, W], "
                               + "got \(x.dims) \(x.layout)")
        }
        return (x.dims[0], (channels + width - 1) / width * width / 8, x.dims[2] * x.dims[3], width)
    }

    private func ensureScratch(_ n: Int, _ groups: Int) {
        if scratch.count < 16 * n * groups { scratch = [Double](repeating: 0, count: 16 * n * groups) }
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        let (n, groups, plane, width) = try geometry(x)
        if mode.isTraining {
            ensureScratch(n, groups)
            scratch.withUnsafeMutableBufferPointer { s in
                kp_channel_statistics(x.kernelInput, n, groups, plane, width, s.baseAddress, &statisticsMean, &statisticsVariance)
            }
            batch = (statisticsMean.prefix(channels).map { Float($0) }, statisticsVariance.prefix(channels).map { Float($0) })
        } else {
            for c in 0..<channels {
                statisticsMean[c] = Double(runningMean[c]); statisticsVariance[c] = Double(runningVariance[c])
            }
        }
        for c in 0..<channels {
            let inverse = 1 / (statisticsVariance[c] + Double(epsilon)).squareRoot()
            let a = Double(gamma.values[c]) * inverse
            inverseDeviation[c] = inverse
            scale[c] = Float(a)
            shift[c] = Float(Double(beta.values[c]) - statisticsMean[c] * a)
            mean[c] = Float(statisticsMean[c])
        }
        let y = try owned(&outputs, like: x, element: outputElement)
        kp_scale_shift_relu6(x.kernelInput, y.kernelOutput, n, groups, plane, width, scale, shift)
        last = (x, mode.isTraining)
        return y
    }

    /// Writes d(gamma), d(beta) and returns dx. After an inference-mode forward the statistics are
    /// constants, so dx is gamma / sqrt(var + eps) times ReLU6's gradient.
    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let (x, training) = last else { throw ComputeError("BatchNormReLU6.backward called before forward") }
        guard computesInputGradient || computesParameterGradients else { return nil }
        guard dy.dims == x.dims, dy.layout == x.layout else {  // of either element type
            throw ComputeError("batch norm + ReLU6 backward: dy \(dy.dims) \(dy.layout) for input \(x.dims) \(x.layout)")
        }
        let (n, groups, plane, width) = try geometry(x)
        ensureScratch(n, groups)
        scratch.withUnsafeMutableBufferPointer { s in
            kp_relu6_gradient_sums(x.kernelInput, dy.kernelInput, n, groups, plane, width, scale, shift, mean, s.baseAddress, &sum, &centred)
        }
        if computesParameterGradients {
            for c in 0..<channels {
                beta.gradients[c] = Float(sum[c])
                gamma.gradients[c] = Float(centred[c] * inverseDeviation[c])
            }
        }
        guard computesInputGradient else { return nil }
        let dx = try owned(&inputGradients, like: x, element: inputGradientElement)
        if training {
            // dx = a (g - sum/M - (x - mean) sd^-2 centred/M), a = gamma sd^-1: the batch statistics' part.
            let count = Double(n * plane)
            for c in 0..<channels {
                let a = Double(scale[c]), inverse = inverseDeviation[c]
                offset[c] = Float(-a * sum[c] / count)
                slope[c] = Float(-a * inverse * inverse * centred[c] / count)
            }
            kp_relu6_input_gradient(x.kernelInput, dy.kernelInput, dx.kernelOutput, n, groups, plane, width, scale, shift,
                                    offset, slope, mean)
        } else {
            kp_relu6_input_gradient(x.kernelInput, dy.kernelInput, dx.kernelOutput, n, groups, plane, width, scale, shift,
                                    nil, nil, nil)
        }
        return dx
    }

    /// The layer's tensor of `x`'s dims and layout, of `element`s, in `cache`, made on first use.
    private func owned(_ cache: inout [ShapeKey: Tensor], like x: Tensor, element: ElementType) throws -> Tensor {
        if let t = cache[x.shapeKey], t.element == element { return t }
        let t = try Tensor(x.dims, layout: x.layout, element: element, engine: engine)
        cache[x.shapeKey] = t
        return t
    }
}

extension Tensor {
    /// The tensor as our kernels read it (f32 or bf16 elements).
    fileprivate var kernelInput: kp_input { kp_input(data: UnsafeRawPointer(bytes), bf16: element == .bf16 ? 1 : 0) }
    /// The tensor as our kernels write it.
    fileprivate var kernelOutput: kp_output { kp_output(data: bytes, bf16: element == .bf16 ? 1 : 0) }
}
