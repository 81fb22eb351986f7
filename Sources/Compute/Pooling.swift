// Global average pooling on oneDNN: [N, C, H, W] activations to [N, C] features.
internal import CDNNL

/// Averages each channel over the whole H x W plane. Input [N, C, H, W] (nChw8c or nChw16c); output plain [N, C].
///
/// The pooling primitive runs blocked-to-blocked (its JIT kernel needs the same layout on both
/// sides) into a [N, C, 1, 1] buffer of the input's layout; a reorder then writes the plain [N, C] output.
public final class GlobalAveragePool: Layer {
    public var computesInputGradient = true
    public var computesParameterGradients = true
    private let engine: Engine
    private var states: [ShapeKey: State] = [:]
    private var last: State?

    private final class State {
        let forward: Primitive
        let pooled: Memory
        let output: Tensor
        /// The [N, C] output's bytes viewed as plain [N, C, 1, 1].
        let outputAs4D: Memory
        let toOutput: Primitive
        let inputDims: [Int], inputLayout: Layout
        var backward: (pooling: Primitive, fromGradient: Primitive, pooledGradient: Memory, dx: Tensor)?
        init(forward: Primitive, pooled: Memory, output: Tensor, outputAs4D: Memory, toOutput: Primitive,
             inputDims: [Int], inputLayout: Layout) {
            self.forward = forward; self.pooled = pooled; self.output = output; self.outputAs4D = outputAs4D
            self.toOutput = toOutput; self.inputDims = inputDims; self.inputLayout = inputLayout
        }
    }

    public init(engine: Engine = .cpu) { self.engine = engine }

    public func outputDims(for input: [Int]) -> [Int] { [input[0], input[1]] }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        let s = try states[x.shapeKey] ?? makeState(for: x)
        try s.forward.execute([(Arg.src, x.memory), (Arg.dst, s.pooled)])
        try s.toOutput.execute([(Arg.src, s.pooled), (Arg.dst, s.outputAs4D)])
        last = s
        return s.output
    }

    private func makeState(for x: Tensor) throws -> State {
        let n = x.dims[0], c = x.dims[1]
        let out = try Tensor([n, c], layout: .nc, engine: engine)
        let plain4 = try MemoryDesc([n, c, 1, 1], dnnl_nchw)
        let pooledDesc = try MemoryDesc([n, c, 1, 1], x.layout.tag)
        var src = x.desc.raw, dst = pooledDesc.raw
        var strides = dimsTuple([1, 1]), kernel = dimsTuple([x.dims[2], x.dims[3]]), pad = dimsTuple([0, 0])
        let f = try makePrimitive(engine, dnnl_pooling_desc_t(), what: "global average pooling forward") {
            dnnl_pooling_forward_desc_init($0, dnnl_forward_training, dnnl_pooling_avg_exclude_padding,
                                           &src, &dst, &strides, &kernel, &pad, &pad)
        }
        let s = State(forward: f, pooled: try Memory(engine, pooledDesc), output: out,
                      outputAs4D: try Memory(engine, plain4, borrowing: UnsafeMutableRawPointer(out.data)),
                      toOutput: try Primitive(engine, reorderFrom: pooledDesc, to: plain4),
                      inputDims: x.dims, inputLayout: x.layout)
        states[x.shapeKey] = s
        return s
    }

    /// dx[n, c, h, w] = dy[n, c] / (H * W).
    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let s = last else { throw ComputeError("GlobalAveragePool.backward called before forward") }
        guard computesInputGradient else { return nil }
        if s.backward == nil {
            let dx = try Tensor(s.inputDims, layout: s.inputLayout, engine: engine)
            var dsrc = dx.desc.raw, ddst = s.pooled.desc.raw
            var strides = dimsTuple([1, 1]), kernel = dimsTuple([s.inputDims[2], s.inputDims[3]]), pad = dimsTuple([0, 0])
            let b = try makePrimitive(engine, dnnl_pooling_desc_t(), hint: s.forward, what: "global average pooling backward") {
                dnnl_pooling_backward_desc_init($0, dnnl_pooling_avg_exclude_padding, &dsrc, &ddst, &strides, &kernel, &pad, &pad)
            }
            s.backward = (b, try Primitive(engine, reorderFrom: s.outputAs4D.desc, to: s.pooled.desc),
                          try Memory(engine, s.pooled.desc), dx)
        }
        let (pooling, fromGradient, pooledGradient, dx) = s.backward!
        let dy4 = try Memory(engine, s.outputAs4D.desc, borrowing: UnsafeMutableRawPointer(dy.data))
        try fromGradient.execute([(Arg.src, dy4), (Arg.dst, pooledGradient)])
        try pooling.execute([(Arg.diffDst, pooledGradient), (Arg.diffSrc, dx.memory)])
        return dx
    }
}
