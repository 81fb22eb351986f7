// oneDNN memory objects: a descriptor bound to a buffer, either owned or borrowed.
internal import CDNNL
#if canImport(Glibc)
import Glibc
#endif

/// A oneDNN memory object over a buffer. When `owned`, the buffer (64-byte aligned, zeroed) is
/// allocated here and freed in `deinit`; otherwise it borrows a pointer whose owner outlives it.
final class Memory {
    let desc: MemoryDesc
    let handle: dnnl_memory_t
    let pointer: UnsafeMutableRawPointer
    private let owned: Bool

    /// Allocates a zeroed buffer for `desc`.
    init(_ engine: Engine, _ desc: MemoryDesc) throws {
        self.desc = desc
        let bytes = max(desc.byteCount, 64)
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, 64, bytes) == 0, let p else {
            throw ComputeError("out of memory allocating \(bytes) bytes for a tensor")
        }
        memset(p, 0, bytes)
        pointer = p
        owned = true
        var m: dnnl_memory_t?
        var raw = desc.raw
        try check(dnnl_memory_create(&m, &raw, engine.engine, p), "memory_create")
        handle = m!
    }

    /// Wraps an existing buffer that holds data in `desc`'s layout.
    init(_ engine: Engine, _ desc: MemoryDesc, borrowing p: UnsafeMutableRawPointer) throws {
        self.desc = desc
        pointer = p
        owned = false
        var m: dnnl_memory_t?
        var raw = desc.raw
        try check(dnnl_memory_create(&m, &raw, engine.engine, p), "memory_create(borrowed)")
        handle = m!
    }

    deinit {
        dnnl_memory_destroy(handle)
        if owned { free(pointer) }
    }

    var floats: UnsafeMutablePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }
}
