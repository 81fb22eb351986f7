// Batch normalisation on oneDNN: batch statistics in training, running statistics in inference.
internal import CDNNL

/// A layer that normalises with batch statistics in training and can report them.
public protocol BatchStatisticsReporting: AnyObject {
    /// The batch mean and biased variance [C] of the last training-mode forward (nil after an
    /// inference-mode forward). Data-parallel training sends these to the coordinator, which
    /// applies the running-average updates of all micro-batches in a fixed order.
    var lastBatchStatistics: (mean: [Float], variance: [Float])? { get }
}

/// Batch normalisation over the channels of [N, C, H, W] (nChw8c or nChw16c) activations.
///
/// Training mode normalises with the batch mean and biased variance and keeps them for
/// ``lastBatchStatistics``; it never touches the running statistics (the trainer folds batch
/// statistics into them by one rule, `Training/BatchNormStatistics.swift`). Inference mode
/// normalises with the running statistics. Parameters: gamma [C], beta [C]; statistics (not
/// trained): running mean [C], running variance [C].
public final class BatchNorm: Layer, BatchStatisticsReporting {
    public let channels: Int
    public let epsilon: Float
    public var computesInputGradient = true
    public var computesParameterGradients = true
    private let gamma: ParameterSlice, beta: ParameterSlice
    private let engine: Engine
    private let scale: Memory, shift: Memory, diffScale: Memory, diffShift: Memory
    private let runningMeanMemory: Memory, runningVarianceMemory: Memory
    private var states: [ShapeKey: State] = [:]
    private var last: (state: State, input: Tensor, training: Bool)?

    private final class State {
        let training: Primitive
        let inference: Primitive
        let output: Tensor
        let mean: Memory, variance: Memory
        var backward: Primitive?
        var backwardGlobal: Primitive?
        var diffInput: Tensor?
        init(training: Primitive, inference: Primitive, output: Tensor, mean: Memory, variance: Memory) {
            self.training = training; self.inference = inference; self.output = output
            self.mean = mean; self.variance = variance
        }
    }

    /// - Parameters:
    ///   - runningMean, runningVariance: C floats each in the flat statistics buffer.
    public init(channels: Int, epsilon: Float = 1e-3,
                gamma: ParameterSlice, beta: ParameterSlice,
                runningMean: UnsafeMutablePointer<Float>, runningVariance: UnsafeMutablePointer<Float>,
                engine: Engine = .cpu) throws {
        precondition(gamma.count == channels && beta.count == channels)
        self.channels = channels; self.epsilon = epsilon
        self.gamma = gamma; self.beta = beta
        self.engine = engine
        let c = try MemoryDesc([channels], dnnl_x)
        scale = try Memory(engine, c, borrowing: UnsafeMutableRawPointer(gamma.values))
        shift = try Memory(engine, c, borrowing: UnsafeMutableRawPointer(beta.values))
        diffScale = try Memory(engine, c, borrowing: UnsafeMutableRawPointer(gamma.gradients))
        diffShift = try Memory(engine, c, borrowing: UnsafeMutableRawPointer(beta.gradients))
        runningMeanMemory = try Memory(engine, c, borrowing: UnsafeMutableRawPointer(runningMean))
        runningVarianceMemory = try Memory(engine, c, borrowing: UnsafeMutableRawPointer(runningVariance))
    }

    public func outputDims(for input: [Int]) -> [Int] { input }

    /// The batch mean and biased variance [C] of the last training-mode forward, copied out.
    public var lastBatchStatistics: (mean: [Float], variance: [Float])? {
        guard let (s, _, training) = last, training else { return nil }
        return (Array(UnsafeBufferPointer(start: s.mean.floats, count: channels)),
                Array(UnsafeBufferPointer(start: s.variance.floats, count: channels)))
    }

    private var scaleShift: UInt32 { dnnl_use_scale.rawValue | dnnl_use_shift.rawValue }

    private func state(for x: Tensor) throws -> State {
        if let s = states[x.shapeKey] { return s }
        var data = x.desc.raw
        let flags = scaleShift, eps = epsilon
        let train = try makePrimitive(engine, dnnl_batch_normalization_desc_t(), what: "batch norm forward training") {
            dnnl_batch_normalization_forward_desc_init($0, dnnl_forward_training, &data, eps, flags)
        }
        let infer = try makePrimitive(engine, dnnl_batch_normalization_desc_t(), what: "batch norm forward inference") {
            dnnl_batch_normalization_forward_desc_init($0, dnnl_forward_inference, &data, eps,
                                                      flags | dnnl_use_global_stats.rawValue)
        }
        let c = try MemoryDesc([channels], dnnl_x)
        let s = State(training: train, inference: infer, output: try Tensor(x.dims, layout: x.layout, engine: engine),
                      mean: try Memory(engine, c), variance: try Memory(engine, c))
        states[x.shapeKey] = s
        return s
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        precondition(x.dims[1] == channels, "batch norm expects \(channels) channels, got \(x.dims)")
        let s = try state(for: x)
        if mode.isTraining {
            try s.training.execute([(Arg.src, x.memory), (Arg.dst, s.output.memory), (Arg.mean, s.mean),
                                    (Arg.variance, s.variance), (Arg.scale, scale), (Arg.shift, shift)])
        } else {
            try s.inference.execute([(Arg.src, x.memory), (Arg.dst, s.output.memory), (Arg.mean, runningMeanMemory),
                                     (Arg.variance, runningVarianceMemory), (Arg.scale, scale), (Arg.shift, shift)])
        }
        last = (s, x, mode.isTraining)
        return s.output
    }

    /// Writes d(gamma), d(beta) and returns dx. After an inference-mode forward the statistics are
    /// constants (frozen BN), so dx is just the per-channel affine scale of dy.
    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let (s, x, training) = last else { throw ComputeError("BatchNorm.backward called before forward") }
        guard computesInputGradient || computesParameterGradients else { return nil }
        var data = x.desc.raw, diff = dy.desc.raw
        let eps = epsilon
        let flags = scaleShift | (training ? 0 : dnnl_use_global_stats.rawValue)
        let primitive: Primitive
        if training {
            if s.backward == nil {
                s.backward = try makePrimitive(engine, dnnl_batch_normalization_desc_t(), hint: s.training,
                                               what: "batch norm backward") {
                    dnnl_batch_normalization_backward_desc_init($0, dnnl_backward, &diff, &data, eps, flags)
                }
            }
            primitive = s.backward!
        } else {
            if s.backwardGlobal == nil {
                // The hint must be a training-propagation forward with the same flags.
                let hint = try makePrimitive(engine, dnnl_batch_normalization_desc_t(), what: "batch norm forward (global stats)") {
                    dnnl_batch_normalization_forward_desc_init($0, dnnl_forward_training, &data, eps, flags)
                }
                s.backwardGlobal = try makePrimitive(engine, dnnl_batch_normalization_desc_t(), hint: hint,
                                                     what: "batch norm backward (global stats)") {
                    dnnl_batch_normalization_backward_desc_init($0, dnnl_backward, &diff, &data, eps, flags)
                }
            }
            primitive = s.backwardGlobal!
        }
        if s.diffInput == nil { s.diffInput = try Tensor(x.dims, layout: x.layout, engine: engine) }
        let dx = s.diffInput!
        // oneDNN always writes d(gamma), d(beta) with dnnl_backward; when frozen, write them to scratch.
        let dScale: Memory, dShift: Memory
        if computesParameterGradients {
            dScale = diffScale; dShift = diffShift
        } else {
            let c = try MemoryDesc([channels], dnnl_x)
            dScale = try Memory(engine, c); dShift = try Memory(engine, c)
        }
        let mean = training ? s.mean : runningMeanMemory, variance = training ? s.variance : runningVarianceMemory
        try primitive.execute([(Arg.src, x.memory), (Arg.mean, mean), (Arg.variance, variance),
                               (Arg.diffDst, dy.memory), (Arg.scale, scale), (Arg.shift, shift),
                               (Arg.diffSrc, dx.memory), (Arg.diffScale, dScale), (Arg.diffShift, dShift)])
        return computesInputGradient ? dx : nil
    }
}
