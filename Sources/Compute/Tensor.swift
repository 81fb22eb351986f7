// Activation tensors: a shape, a layout (plain or oneDNN-blocked) and an owned, aligned buffer.
internal import CDNNL
import Foundation

/// Physical layout of an activation tensor.
public enum Layout: Sendable, Hashable {
    /// Plain [N, C, H, W], row-major.
    case nchw
    /// oneDNN's blocked layout [N, C/8, H, W, 8]: channels padded to a multiple of 8 (one AVX2
    /// vector per position). Activations stay in ``blocked`` from the first convolution to the pooling layer.
    case nChw8c
    /// [N, C/16, H, W, 16]: channels padded to a multiple of 16 (one AVX-512 vector per position).
    case nChw16c
    /// Plain [N, C] (features after pooling).
    case nc

    var tag: dnnl_format_tag_t {
        switch self {
        case .nchw: return dnnl_nchw
        case .nChw8c: return dnnl_nChw8c
        case .nChw16c: return dnnl_nChw16c
        case .nc: return dnnl_nc
        }
    }
    var plain: Layout { self == .nc ? .nc : .nchw }

    /// Channels per block of a blocked layout (8 or 16), 1 for plain ones.
    public var channelBlock: Int {
        switch self {
        case .nChw8c: return 8
        case .nChw16c: return 16
        case .nchw, .nc: return 1
        }
    }

    /// The blocked layout activations use on this CPU: nChw16c where oneDNN runs AVX-512 kernels
    /// (its convolutions then pick their AVX-512 implementations, twice the vector width), else
    /// nChw8c. `KEYPOINTS_CHANNEL_BLOCK=8` or `16` overrides it (tests and comparisons).
    public static let blocked: Layout = {
        switch ProcessInfo.processInfo.environment["KEYPOINTS_CHANNEL_BLOCK"] {
        case "8": return .nChw8c
        case "16": return .nChw16c
        default: return Engine.hasAVX512 ? .nChw16c : .nChw8c
        }
    }()
}

/// What a tensor's elements are.
public enum ElementType: Sendable, Hashable {
    /// IEEE single precision.
    case f32
    /// bfloat16: an f32's sign, exponent and top 7 mantissa bits (what bf16 convolutions read, and
    /// what the layers between two of them hand each other in `--precision bf16`).
    case bf16

    var dnnl: dnnl_data_type_t { self == .bf16 ? dnnl_bf16 : dnnl_f32 }
}

/// A tensor's dims, layout and element type, the key of per-shape primitive caches.
public struct ShapeKey: Hashable, Sendable {
    public let dims: [Int]
    public let layout: Layout
    public let element: ElementType
}

/// A tensor in a given layout, of f32 (or bf16) elements. Shapes are [N, C, H, W] for 4-D layouts
/// and [N, C] for `.nc`, whatever the physical layout. Layers own their output tensors and reuse them between calls.
public final class Tensor {
    public let dims: [Int]
    public let layout: Layout
    public let element: ElementType
    let memory: Memory
    let engine: Engine

    /// A zeroed tensor of `dims` in `layout`.
    public init(_ dims: [Int], layout: Layout, element: ElementType = .f32, engine: Engine = .cpu) throws {
        precondition(dims.count == (layout == .nc ? 2 : 4), "dims \(dims) do not fit layout \(layout)")
        self.dims = dims
        self.layout = layout
        self.element = element
        self.engine = engine
        memory = try Memory(engine, try MemoryDesc(dims, layout.tag, type: element.dnnl))
    }

    /// Dims, layout and element type together: what layers key their cached primitives by.
    public var shapeKey: ShapeKey { ShapeKey(dims: dims, layout: layout, element: element) }

    /// Number of logical elements (padding excluded).
    public var count: Int { dims.reduce(1, *) }
    public var batch: Int { dims[0] }
    var desc: MemoryDesc { memory.desc }

    /// The raw buffer of an f32 tensor; only meaningful element by element for plain layouts.
    public var data: UnsafeMutablePointer<Float> {
        precondition(element == .f32, "Tensor.data of a \(element) tensor")
        return memory.floats
    }

    /// The raw buffer, whatever the element type.
    var bytes: UnsafeMutableRawPointer { memory.pointer }

    /// Whether the elements in the plain layout are the buffer itself (plain layout, f32).
    private var isPlainF32: Bool { layout == layout.plain && element == .f32 }

    /// Fills the tensor from values in the plain layout ([N,C,H,W] or [N,C]), reordering if blocked
    /// (and rounding to nearest even into bf16).
    public func load(plain values: [Float]) throws {
        precondition(values.count == count, "expected \(count) values, got \(values.count)")
        if isPlainF32 {
            values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
            return
        }
        let staging = try Tensor(dims, layout: layout.plain, engine: engine)
        try staging.load(plain: values)
        try staging.reorder(into: self)
    }

    /// The values in the plain layout ([N,C,H,W] or [N,C]).
    public func plain() throws -> [Float] {
        if isPlainF32 { return Array(UnsafeBufferPointer(start: data, count: count)) }
        let staging = try Tensor(dims, layout: layout.plain, engine: engine)
        try reorder(into: staging)
        return try staging.plain()
    }

    /// Copies this tensor into `other` (same dims, any layout and element type).
    public func reorder(into other: Tensor) throws {
        precondition(dims == other.dims, "reorder \(dims) into \(other.dims)")
        try Primitive(engine, reorderFrom: desc, to: other.desc)
            .execute([(Arg.src, memory), (Arg.dst, other.memory)])
    }
}
