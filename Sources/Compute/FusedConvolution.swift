// An inference-only convolution with a bias and ReLU6 fused into one oneDNN primitive: what a
// convolution, an inference BatchNorm and ReLU6 become once the BN is folded into the weights.
internal import CDNNL

/// y = min(max(conv(x, W) + b, 0), 6). Input [N, I, H, W] in the tensor's layout; output
/// [N, O, OH, OW] in nChw8c. Weights [O, I/groups, K, K] and bias [O] are the layer's own
/// (folded) copies, fixed once made; they are reordered into the kernel's layout once per shape.
public final class FusedConvolution {
    public let geometry: ConvolutionGeometry
    private let weights: FlatBuffer
    private let bias: FlatBuffer
    private let engine: Engine
    private var states: [ShapeKey: State] = [:]

    private final class State {
        let forward: Primitive
        let output: Tensor
        let weights: Memory
        let bias: Memory
        /// Keeps the reordered weights' owner alive.
        let prepared: PrimitiveWeights
        init(forward: Primitive, output: Tensor, weights: Memory, bias: Memory, prepared: PrimitiveWeights) {
            self.forward = forward; self.output = output; self.weights = weights; self.bias = bias; self.prepared = prepared
        }
    }

    public init(_ geometry: ConvolutionGeometry, weights: [Float], bias: [Float], engine: Engine = .cpu) {
        precondition(weights.count == geometry.weightCount && bias.count == geometry.outChannels,
                     "fused convolution: \(weights.count) weights and \(bias.count) biases for \(geometry)")
        self.geometry = geometry
        self.engine = engine
        self.weights = FlatBuffer(count: weights.count)
        self.bias = FlatBuffer(count: bias.count)
        self.weights.base.update(from: weights, count: weights.count)
        self.bias.base.update(from: bias, count: bias.count)
    }

    public func outputDims(for input: [Int]) -> [Int] { geometry.outputDims(for: input) }

    private func state(for x: Tensor) throws -> State {
        if let s = states[x.shapeKey] { return s }
        let outDims = geometry.outputDims(for: x.dims)
        var src = x.desc.raw, w = try geometry.anyWeightsDesc().raw, dst = try MemoryDesc(outDims, Layout.blocked.tag).raw
        let biasDesc = try MemoryDesc([geometry.outChannels], dnnl_x)
        var b = biasDesc.raw
        var st = geometry.dnnlStrides, pl = geometry.dnnlPaddingBegin, pr = geometry.dnnlPaddingEnd
        // ReLU6 as a post-op: clip(y, 0, 6) applied by the convolution kernel as it writes y.
        var postOps: dnnl_post_ops_t?, attributes: dnnl_primitive_attr_t?
        try check(dnnl_post_ops_create(&postOps), "post_ops_create")
        defer { dnnl_post_ops_destroy(postOps) }
        try check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_clip, 0, 6), "post_ops_append_eltwise(clip 0, 6)")
        try check(dnnl_primitive_attr_create(&attributes), "primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attributes) }
        try check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "primitive_attr_set_post_ops")
        let fwd = try makePrimitive(engine, dnnl_convolution_desc_t(), attributes: attributes,
                                    what: "fused convolution \(geometry)") {
            dnnl_convolution_forward_desc_init($0, dnnl_forward_inference, dnnl_convolution_direct,
                                               &src, &w, &b, &dst, &st, &pl, &pr)
        }
        let prepared = try PrimitiveWeights(engine, plain: try geometry.plainWeightsDesc(), values: weights.base,
                                            preferred: fwd.desc(dnnl_query_weights_md))
        let s = State(forward: fwd, output: try Tensor(outDims, layout: .blocked, engine: engine),
                      weights: try prepared.prepare(),
                      bias: try Memory(engine, biasDesc, borrowing: UnsafeMutableRawPointer(bias.base)), prepared: prepared)
        states[x.shapeKey] = s
        return s
    }

    /// y = ReLU6(conv(x, W) + b). The output is owned by the layer (reused per input shape).
    public func forward(_ x: Tensor) throws -> Tensor {
        precondition(x.dims[1] == geometry.inChannels, "convolution expects \(geometry.inChannels) channels, got \(x.dims)")
        let s = try state(for: x)
        try s.forward.execute([(Arg.src, x.memory), (Arg.weights, s.weights), (Arg.bias, s.bias), (Arg.dst, s.output.memory)])
        return s.output
    }
}
