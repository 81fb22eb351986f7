// Global average pooling on oneDNN: [N, C, H, W] activations to [N, C] features.
internal import CDNNL

/// Averages each channel over the whole H x W plane. Input nChw8c [N, C, H, W]; output plain [N, C].
public final class GlobalAveragePool: Layer {
    public var computesInputGradient = true
    public var computesParameterGradients = true
    private let engine: Engine
    private var states: [[Int]: State] = [:]
    private var last: State?

    private final class State {
        let forward: Primitive
        let output: Tensor
        let outputAs4D: Memory
        let inputDims: [Int], inputLayout: Layout
        var backward: (Primitive, Tensor)?
        init(forward: Primitive, output: Tensor, outputAs4D: Memory, inputDims: [Int], inputLayout: Layout) {
            self.forward = forward; self.output = output; self.outputAs4D = outputAs4D
            self.inputDims = inputDims; self.inputLayout = inputLayout
        }
    }

    public init(engine: Engine = .cpu) { self.engine = engine }

    public func outputDims(for input: [Int]) -> [Int] { [input[0], input[1]] }

    private func geometry(_ d: [Int]) -> ([Int64], [Int64], [Int64]) {
        (dimsTuple([1, 1]), dimsTuple([d[2], d[3]]), dimsTuple([0, 0]))
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        if states[x.dims] == nil {
            // The [N, C] output buffer viewed as plain [N, C, 1, 1]: the same bytes.
            let out = try Tensor([x.dims[0], x.dims[1]], layout: .nc, engine: engine)
            let out4 = try MemoryDesc([x.dims[0], x.dims[1], 1, 1], dnnl_nchw)
            var src = x.desc.raw, dst = out4.raw
            var (st, k, pad) = geometry(x.dims)
            var pad2 = pad
            let f = try makePrimitive(engine, dnnl_pooling_desc_t(), what: "global average pooling forward") {
                dnnl_pooling_forward_desc_init($0, dnnl_forward_training, dnnl_pooling_avg_exclude_padding,
                                               &src, &dst, &st, &k, &pad, &pad2)
            }
            states[x.dims] = State(forward: f, output: out,
                                   outputAs4D: try Memory(engine, out4, borrowing: UnsafeMutableRawPointer(out.data)),
                                   inputDims: x.dims, inputLayout: x.layout)
        }
        let s = states[x.dims]!
        try s.forward.execute([(Arg.src, x.memory), (Arg.dst, s.outputAs4D)])
        last = s
        return s.output
    }

    /// dx[n, c, h, w] = dy[n, c] / (H * W).
    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let s = last else { throw ComputeError("GlobalAveragePool.backward called before forward") }
        guard computesInputGradient else { return nil }
        if s.backward == nil {
            let dx = try Tensor(s.inputDims, layout: s.inputLayout, engine: engine)
            var dsrc = dx.desc.raw, ddst = s.outputAs4D.desc.raw
            var (st, k, pad) = geometry(s.inputDims)
            var pad2 = pad
            let b = try makePrimitive(engine, dnnl_pooling_desc_t(), hint: s.forward, what: "global average pooling backward") {
                dnnl_pooling_backward_desc_init($0, dnnl_pooling_avg_exclude_padding, &dsrc, &ddst, &st, &k, &pad, &pad2)
            }
            s.backward = (b, dx)
        }
        let (b, dx) = s.backward!
        let dy4 = try Memory(engine, s.outputAs4D.desc, borrowing: UnsafeMutableRawPointer(dy.data))
        try b.execute([(Arg.diffDst, dy4), (Arg.diffSrc, dx.memory)])
        return dx
    }
}
