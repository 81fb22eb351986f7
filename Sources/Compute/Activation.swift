// ReLU and ReLU6 on oneDNN's eltwise primitive, computed in place.
internal import CDNNL

/// Element-wise activation: ReLU, or ReLU6 = min(max(x, 0), 6) as in Keras MobileNet.
///
/// NOTE: runs in place. The output *is* the input tensor, and backward overwrites `dy` with dx.
/// This is safe wherever the layer before does not need its own output for its backward
/// (true after BatchNorm and Linear). The derivative is taken from the output: 1 where
/// 0 < y < 6 (ReLU6) or y > 0 (ReLU), else 0, so at exactly 0 and 6 the gradient is 0.
public final class Activation: Layer {
    public enum Kind: String, Sendable { case relu, relu6 }
    public let kind: Kind
    public var computesInputGradient = true
    public var computesParameterGradients = true
    private let engine: Engine
    private var states: [ShapeKey: (forward: Primitive, backward: Primitive?)] = [:]
    private var last: Tensor?

    public init(_ kind: Kind, engine: Engine = .cpu) {
        self.kind = kind
        self.engine = engine
    }

    public func outputDims(for input: [Int]) -> [Int] { input }

    private var algorithm: dnnl_alg_kind_t {
        kind == .relu ? dnnl_eltwise_relu_use_dst_for_bwd : dnnl_eltwise_clip_v2_use_dst_for_bwd
    }
    private var beta: Float { kind == .relu ? 0 : 6 }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        if states[x.shapeKey] == nil {
            var data = x.desc.raw
            let alg = algorithm, b = beta
            let f = try makePrimitive(engine, dnnl_eltwise_desc_t(), what: "\(kind) forward") {
                dnnl_eltwise_forward_desc_init($0, dnnl_forward_training, alg, &data, 0, b)
            }
            states[x.shapeKey] = (f, nil)
        }
        try states[x.shapeKey]!.forward.execute([(Arg.src, x.memory), (Arg.dst, x.memory)])
        last = x
        return x
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let y = last else { throw ComputeError("Activation.backward called before forward") }
        guard computesInputGradient else { return nil }
        var st = states[y.shapeKey]!
        if st.backward == nil {
            var diff = dy.desc.raw, data = y.desc.raw
            let alg = algorithm, b = beta
            st.backward = try makePrimitive(engine, dnnl_eltwise_desc_t(), hint: st.forward, what: "\(kind) backward") {
                dnnl_eltwise_backward_desc_init($0, alg, &diff, &data, 0, b)
            }
            states[y.shapeKey] = st
        }
        try st.backward!.execute([(Arg.dst, y.memory), (Arg.diffDst, dy.memory), (Arg.diffSrc, dy.memory)])
        return dy
    }
}
