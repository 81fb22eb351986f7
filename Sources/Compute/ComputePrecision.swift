// What convolutions multiply in (`--precision`), and the bf16 copies of f32 activations that
// oneDNN's bf16 kernels read.
internal import CDNNL

/// What convolution kernels multiply in.
public enum ComputePrecision: String, Sendable, Codable, CaseIterable {
    case f32, bf16
}

/// A bf16 copy of an f32 tensor in the same layout, refreshed by a oneDNN reorder (round to
/// nearest even), for kernels that read bf16.
final class BFloat16Copy {
    let memory: Memory
    private let reorder: Primitive

    /// The bf16 descriptor of `t`'s dims and layout.
    static func desc(of t: Tensor) throws -> MemoryDesc { try MemoryDesc(t.dims, t.layout.tag, type: dnnl_bf16) }

    init(of t: Tensor, engine: Engine) throws {
        let desc = try Self.desc(of: t)
        memory = try Memory(engine, desc)
        reorder = try Primitive(engine, reorderFrom: t.desc, to: desc)
    }

    func refresh(from t: Tensor) throws -> Memory {
        try reorder.execute([(Arg.src, t.memory), (Arg.dst, memory)])
        return memory
    }
}
