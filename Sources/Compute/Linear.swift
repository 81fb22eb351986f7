// Fully connected layer on oneDNN's inner product, forward and backward.
internal import CDNNL

/// y = x W^T + b. Input [N, I] plain; output [N, O] plain. Weights [O, I] and bias [O] live in the
/// flat parameter buffer (PyTorch's `nn.Linear` layout).
public final class Linear: Layer {
    public let inFeatures: Int, outFeatures: Int
    public var computesInputGradient = true
    public var computesParameterGradients = true
    private let weights: ParameterSlice, bias: ParameterSlice
    private let engine: Engine
    private let biasMemory: Memory, biasGradient: Memory
    private var states: [Int: State] = [:]
    private var last: (state: State, input: Tensor)?

    private final class State {
        let forward: Primitive
        let output: Tensor
        let weights: PrimitiveWeights
        var backwardData: (Primitive, Tensor)?
        var backwardWeights: (Primitive, PrimitiveGradients)?
        init(forward: Primitive, output: Tensor, weights: PrimitiveWeights) {
            self.forward = forward; self.output = output; self.weights = weights
        }
    }

    public init(inFeatures: Int, outFeatures: Int, weights: ParameterSlice, bias: ParameterSlice, engine: Engine = .cpu) throws {
        precondition(weights.count == inFeatures * outFeatures && bias.count == outFeatures)
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        self.weights = weights; self.bias = bias; self.engine = engine
        let b = try MemoryDesc([outFeatures], dnnl_x)
        biasMemory = try Memory(engine, b, borrowing: UnsafeMutableRawPointer(bias.values))
        biasGradient = try Memory(engine, b, borrowing: UnsafeMutableRawPointer(bias.gradients))
    }

    public func outputDims(for input: [Int]) -> [Int] { [input[0], outFeatures] }

    private var plainWeights: MemoryDesc { get throws { try MemoryDesc([outFeatures, inFeatures], dnnl_oi) } }
    private var anyWeights: MemoryDesc { get throws { try MemoryDesc([outFeatures, inFeatures], dnnl_format_tag_any) } }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        precondition(x.dims == [x.batch, inFeatures] && x.layout == .nc, "linear expects [N, \(inFeatures)] plain, got \(x.dims)")
        if states[x.batch] == nil {
            let out = try Tensor([x.batch, outFeatures], layout: .nc, engine: engine)
            var src = x.desc.raw, w = try anyWeights.raw, b = biasMemory.desc.raw, dst = out.desc.raw
            let f = try makePrimitive(engine, dnnl_inner_product_desc_t(), what: "linear forward") {
                dnnl_inner_product_forward_desc_init($0, dnnl_forward_training, &src, &w, &b, &dst)
            }
            let pw = try PrimitiveWeights(engine, plain: try plainWeights, values: weights.values,
                                          preferred: f.desc(dnnl_query_weights_md))
            states[x.batch] = State(forward: f, output: out, weights: pw)
        }
        let s = states[x.batch]!
        let w = try s.weights.prepare()
        try s.forward.execute([(Arg.src, x.memory), (Arg.weights, w), (Arg.bias, biasMemory), (Arg.dst, s.output.memory)])
        last = (s, x)
        return s.output
    }

    /// Writes dW = dy^T x and db = sum_n dy; returns dx = dy W.
    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let (s, x) = last else { throw ComputeError("Linear.backward called before forward") }
        if computesParameterGradients {
            if s.backwardWeights == nil {
                var src = x.desc.raw, dw = try anyWeights.raw, db = biasGradient.desc.raw, ddst = dy.desc.raw
                let p = try makePrimitive(engine, dnnl_inner_product_desc_t(), hint: s.forward, what: "linear backward weights") {
                    dnnl_inner_product_backward_weights_desc_init($0, &src, &dw, &db, &ddst)
                }
                let g = try PrimitiveGradients(engine, plain: try plainWeights, gradients: weights.gradients,
                                               preferred: p.desc(dnnl_query_diff_weights_md))
                s.backwardWeights = (p, g)
            }
            let (p, g) = s.backwardWeights!
            try p.execute([(Arg.src, x.memory), (Arg.diffDst, dy.memory), (Arg.diffWeights, g.target), (Arg.diffBias, biasGradient)])
            try g.deliver()
        }
        guard computesInputGradient else { return nil }
        if s.backwardData == nil {
            var dsrc = x.desc.raw, w = s.weights.current.desc.raw, ddst = dy.desc.raw
            let p = try makePrimitive(engine, dnnl_inner_product_desc_t(), hint: s.forward, what: "linear backward data") {
                dnnl_inner_product_backward_data_desc_init($0, &dsrc, &w, &ddst)
            }
            s.backwardData = (p, try Tensor(x.dims, layout: .nc, engine: engine))
        }
        let (p, dx) = s.backwardData!
        try p.execute([(Arg.diffDst, dy.memory), (Arg.weights, s.weights.current), (Arg.diffSrc, dx.memory)])
        return dx
    }
}
