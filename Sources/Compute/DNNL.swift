// Thin helpers over oneDNN's C API: status checking, dims tuples, memory descriptors, argument ids.
internal import CDNNL

/// An error from the compute backend, with the oneDNN call that failed and what to check.
public struct ComputeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Throws a `ComputeError` naming `what` when a oneDNN call did not succeed.
func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
    guard status == dnnl_success else {
        throw ComputeError("oneDNN failed (status \(status.rawValue)) in \(what()); "
            + "run with DNNL_VERBOSE=1 to see the primitive it rejected")
    }
}

/// Converts a Swift shape into the Int64 array oneDNN's `const dnnl_dims_t` parameters read
/// (padded to DNNL_MAX_NDIMS = 12 entries).
func dimsTuple(_ values: [Int]) -> [Int64] {
    var dims = [Int64](repeating: 0, count: 12)
    for (i, v) in values.enumerated() { dims[i] = Int64(v) }
    return dims
}

/// Execution argument ids (the DNNL_ARG_* macros, which Swift does not import when they alias).
enum Arg {
    static let src: Int32 = 1
    static let dst: Int32 = 17
    static let weights: Int32 = 33
    static let bias: Int32 = 41
    static let mean: Int32 = 49
    static let variance: Int32 = 50
    static let scale: Int32 = 51
    static let shift: Int32 = 52
    static let workspace: Int32 = 64
    static let diffSrc: Int32 = 129
    static let diffDst: Int32 = 145
    static let diffWeights: Int32 = 161
    static let diffBias: Int32 = 169
    static let diffScale: Int32 = 255
    static let diffShift: Int32 = 256
}

/// A oneDNN memory descriptor: logical dims plus a physical layout.
struct MemoryDesc {
    var raw: dnnl_memory_desc_t

    init(raw: dnnl_memory_desc_t) { self.raw = raw }

    /// A descriptor with the given dims and format tag (`dnnl_format_tag_any` lets a primitive
    /// choose), of f32 values unless `type` says otherwise.
    init(_ dims: [Int], _ tag: dnnl_format_tag_t, type: dnnl_data_type_t = dnnl_f32) throws {
        raw = dnnl_memory_desc_t()
        var d = dimsTuple(dims)
        try check(dnnl_memory_desc_init_by_tag(&raw, Int32(dims.count), &d, type, tag),
                  "memory_desc_init_by_tag dims=\(dims) tag=\(tag.rawValue)")
    }

    /// Bytes needed to hold a tensor of this descriptor, padding included.
    var byteCount: Int {
        withUnsafePointer(to: raw) { dnnl_memory_desc_get_size($0) }
    }

    static func == (a: MemoryDesc, b: MemoryDesc) -> Bool {
        withUnsafePointer(to: a.raw) { pa in withUnsafePointer(to: b.raw) { pb in dnnl_memory_desc_equal(pa, pb) != 0 } }
    }
}
