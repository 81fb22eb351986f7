// 2-D convolution (standard and depthwise) on oneDNN, forward and backward.
internal import CDNNL

/// Where a convolution pads its input: rows on top/bottom and columns left/right (pixels).
public struct Padding: Sendable, Equatable {
    public var top: Int, left: Int, bottom: Int, right: Int

    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top; self.left = left; self.bottom = bottom; self.right = right
    }

    /// The same padding on every side.
    public static func symmetric(_ p: Int) -> Padding { Padding(top: p, left: p, bottom: p, right: p) }

    /// Keras MobileNet's padding: "same" for stride 1, and for stride 2 `ZeroPadding2D(((0,1),(0,1)))`
    /// followed by a "valid" convolution (TensorFlow-style asymmetric padding, extra row/column at the end).
    public static func keras(kernel: Int, stride: Int) -> Padding {
        if stride == 1 { return .symmetric((kernel - 1) / 2) }
        // TensorFlow "same" on an even input: total padding kernel - stride, the extra pixel at the end.
        let total = max(kernel - stride, 0)
        return Padding(top: total / 2, left: total / 2, bottom: total - total / 2, right: total - total / 2)
    }
}

/// Shape of a convolution: channels, square kernel, stride, padding and groups
/// (`groups == inChannels == outChannels` is a depthwise convolution).
public struct ConvolutionGeometry: Sendable, Equatable {
    public var inChannels: Int, outChannels: Int, kernel: Int, stride: Int
    public var padding: Padding
    public var groups: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Padding, groups: Int = 1) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "channels must divide into groups")
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel
        self.stride = stride; self.padding = padding; self.groups = groups
    }

    /// Weight shape in the flat buffer: [O, I/groups, KH, KW] (PyTorch's layout).
    public var weightShape: [Int] { [outChannels, inChannels / groups, kernel, kernel] }
    /// oneDNN's strides, padding at the top/left and at the bottom/right, as [h, w].
    var dnnlStrides: [Int64] { dimsTuple([stride, stride]) }
    var dnnlPaddingBegin: [Int64] { dimsTuple([padding.top, padding.left]) }
    var dnnlPaddingEnd: [Int64] { dimsTuple([padding.bottom, padding.right]) }
    public var weightCount: Int { weightShape.reduce(1, *) }

    /// Output [N, O, OH, OW] for input [N, I, H, W].
    public func outputDims(for x: [Int]) -> [Int] {
        let oh = (x[2] + padding.top + padding.bottom - kernel) / stride + 1
        let ow = (x[3] + padding.left + padding.right - kernel) / stride + 1
        return [x[0], outChannels, oh, ow]
    }

    /// Multiply-adds per image for input spatial size `h` x `w`.
    public func multiplyAdds(h: Int, w: Int) -> Int {
        let o = outputDims(for: [1, inChannels, h, w])
        return o[2] * o[3] * outChannels * (inChannels / groups) * kernel * kernel
    }

    func plainWeightsDesc() throws -> MemoryDesc {
        if groups == 1 { return try MemoryDesc(weightShape, dnnl_oihw) }
        return try MemoryDesc([groups, outChannels / groups, inChannels / groups, kernel, kernel], dnnl_goihw)
    }
    func anyWeightsDesc(type: dnnl_data_type_t = dnnl_f32) throws -> MemoryDesc {
        if groups == 1 { return try MemoryDesc(weightShape, dnnl_format_tag_any, type: type) }
        return try MemoryDesc([groups, outChannels / groups, inChannels / groups, kernel, kernel], dnnl_format_tag_any, type: type)
    }
}

/// A bias-free 2-D convolution. Input [N, I, H, W] in any layout; output [N, O, OH, OW] in ``Layout/blocked``.
/// Weights [O, I/groups, K, K] live in the flat parameter buffer. In bf16 the input and the output
/// gradient may come as bf16 tensors (read as they are, no copy), the input gradient then has the
/// input's element type, and the output may be bf16 (``outputElement``).
public final class Convolution2D: Layer {
    public let geometry: ConvolutionGeometry
    public var computesInputGradient = true
    public var computesParameterGradients = true
    private let weights: ParameterSlice
    private let engine: Engine
    /// What the kernels multiply in: f32, or bf16 (inputs, weights and output gradients rounded to
    /// bf16 on the way in, products summed and results written in f32; weights and gradients stay
    /// f32 in the flat buffers).
    public let precision: ComputePrecision
    /// What the output is stored in: f32, or bf16 (bf16 kernels only; set before the first forward).
    public var outputElement: ElementType = .f32
    private var states: [ShapeKey: State] = [:]
    private var last: (state: State, input: Tensor)?

    /// Primitives and buffers for one input shape, created on first use and kept.
    private final class State {
        let forward: Primitive
        let output: Tensor
        let weights: PrimitiveWeights
        /// Backward data gets its own weights copy: its kernels prefer another layout than forward's.
        var backwardData: (Primitive, PrimitiveWeights, Tensor)?
        var backwardWeights: (Primitive, PrimitiveGradients)?
        /// In bf16: the input as the kernels read it, and the output gradient likewise.
        var input: BFloat16Copy?
        var outputGradient: BFloat16Copy?
        init(forward: Primitive, output: Tensor, weights: PrimitiveWeights) {
            self.forward = forward; self.output = output; self.weights = weights
        }
    }

    public init(_ geometry: ConvolutionGeometry, weights: ParameterSlice, precision: ComputePrecision = .f32, engine: Engine = .cpu) {
        precondition(weights.count == geometry.weightCount, "weight slice has \(weights.count), needs \(geometry.weightCount)")
        self.geometry = geometry
        self.weights = weights
        self.precision = precision
        self.engine = engine
    }

    private var kernelType: dnnl_data_type_t { precision == .bf16 ? dnnl_bf16 : dnnl_f32 }

    /// `t`'s descriptor at the kernels' precision.
    private func kernelDesc(_ t: Tensor) throws -> MemoryDesc {
        precision == .bf16 ? try BFloat16Copy.desc(of: t) : t.desc
    }

    /// `t` as the kernels read it: itself when it has the kernels' element type; an f32 `t` in
    /// bf16, `copy` (made on first use) refreshed from it.
    private func kernelInput(_ t: Tensor, _ copy: inout BFloat16Copy?) throws -> Memory {
        guard precision == .bf16, t.element == .f32 else { return t.memory }
        if copy == nil { copy = try BFloat16Copy(of: t, engine: engine) }
        return try copy!.refresh(from: t)
    }

    public func outputDims(for input: [Int]) -> [Int] { geometry.outputDims(for: input) }

    /// Throws unless `t` is f32, or bf16 for bf16 kernels.
    private func checkElement(_ t: Tensor, _ what: String) throws {
        guard t.element == .f32 || precision == .bf16 else {
            throw ComputeError("an f32 convolution \(geometry) was given a \(t.element) \(what) \(t.dims)")
        }
    }

    private var strides: [Int64] { geometry.dnnlStrides }
    private var padL: [Int64] { geometry.dnnlPaddingBegin }
    private var padR: [Int64] { geometry.dnnlPaddingEnd }

    private func state(for x: Tensor) throws -> State {
        if let s = states[x.shapeKey] { return s }
        if precision == .bf16 && !Engine.hasBFloat16 {
            throw ComputeError("bf16 convolutions need a CPU with AVX512-BF16 or AMX; oneDNN runs \(Engine.instructionSet) "
                               + "kernels here: use f32")
        }
        let outDims = geometry.outputDims(for: x.dims)
        var src = try kernelDesc(x).raw
        var w = try geometry.anyWeightsDesc(type: kernelType).raw
        if outputElement == .bf16 && precision != .bf16 {
            throw ComputeError("an f32 convolution \(geometry) cannot write bf16 outputs")
        }
        var dst = try MemoryDesc(outDims, Layout.blocked.tag, type: outputElement.dnnl).raw
        var st = strides, pl = padL, pr = padR
        let fwd = try makePrimitive(engine, dnnl_convolution_desc_t(), what: "convolution forward \(geometry)") {
            dnnl_convolution_forward_desc_init($0, dnnl_forward_training, dnnl_convolution_direct,
                                               &src, &w, nil, &dst, &st, &pl, &pr)
        }
        let pw = try PrimitiveWeights(engine, plain: try geometry.plainWeightsDesc(), values: weights.values,
                                      preferred: fwd.desc(dnnl_query_weights_md))
        let s = State(forward: fwd, output: try Tensor(outDims, layout: .blocked, element: outputElement, engine: engine), weights: pw)
        states[x.shapeKey] = s
        return s
    }

    /// y = conv(x, W). Output is owned by the layer.
    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        precondition(x.dims[1] == geometry.inChannels, "convolution expects \(geometry.inChannels) channels, got \(x.dims)")
        try checkElement(x, "input")
        let s = try state(for: x)
        let w = try s.weights.prepare()
        try s.forward.execute([(Arg.src, try kernelInput(x, &s.input)), (Arg.weights, w), (Arg.dst, s.output.memory)])
        last = (s, x)
        return s.output
    }

    /// dW = conv_bwd_weights(x, dy) written to the gradient slice; returns dx = conv_bwd_data(dy, W).
    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let (s, x) = last else { throw ComputeError("Convolution2D.backward called before forward") }
        precondition(dy.dims == s.output.dims && dy.layout == s.output.layout,
                     "convolution backward expects dy like its output \(s.output.dims) \(s.output.layout)")
        try checkElement(dy, "output gradient")
        var st = strides, pl = padL, pr = padR
        let gradient = try kernelInput(dy, &s.outputGradient)
        if computesParameterGradients {
            if s.backwardWeights == nil {
                var src = try kernelDesc(x).raw, dw = try geometry.anyWeightsDesc().raw, ddst = try kernelDesc(dy).raw
                let p = try makePrimitive(engine, dnnl_convolution_desc_t(), hint: s.forward,
                                          what: "convolution backward weights \(geometry)") {
                    dnnl_convolution_backward_weights_desc_init($0, dnnl_convolution_direct, &src, &dw, nil, &ddst, &st, &pl, &pr)
                }
                let g = try PrimitiveGradients(engine, plain: try geometry.plainWeightsDesc(), gradients: weights.gradients,
                                               preferred: p.desc(dnnl_query_diff_weights_md))
                s.backwardWeights = (p, g)
            }
            let (p, g) = s.backwardWeights!
            try p.execute([(Arg.src, s.input?.memory ?? x.memory), (Arg.diffDst, gradient), (Arg.diffWeights, g.target)])
            try g.deliver()
        }
        guard computesInputGradient else { return nil }
        if s.backwardData == nil {
            var dsrc = x.desc.raw, w = try geometry.anyWeightsDesc(type: kernelType).raw, ddst = try kernelDesc(dy).raw
            let p = try makePrimitive(engine, dnnl_convolution_desc_t(), hint: s.forward,
                                      what: "convolution backward data \(geometry)") {
                dnnl_convolution_backward_data_desc_init($0, dnnl_convolution_direct, &dsrc, &w, &ddst, &st, &pl, &pr)
            }
            let pw = try PrimitiveWeights(engine, plain: try geometry.plainWeightsDesc(), values: weights.values,
                                          preferred: p.desc(dnnl_query_weights_md))
            s.backwardData = (p, pw, try Tensor(x.dims, layout: x.layout, element: x.element, engine: engine))
        }
        let (p, pw, dx) = s.backwardData!
        try p.execute([(Arg.diffDst, gradient), (Arg.weights, try pw.prepare()), (Arg.diffSrc, dx.memory)])
        return dx
    }
}
