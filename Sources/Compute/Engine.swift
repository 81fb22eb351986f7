// The CPU engine and execution stream every primitive runs on, and the thread-count control.
internal import CDNNL

/// Owns oneDNN's CPU engine and one in-order stream. Create one per process (``Engine/cpu``).
public final class Engine: @unchecked Sendable {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    /// The process-wide CPU engine.
    public static let cpu: Engine = {
        do { return try Engine() } catch { fatalError("cannot create the oneDNN CPU engine: \(error)") }
    }()

    private init() throws {
        var e: dnnl_engine_t?
        try check(dnnl_engine_create(&e, dnnl_cpu, 0), "engine_create(cpu)")
        engine = e!
        var s: dnnl_stream_t?
        try check(dnnl_stream_create(&s, engine, dnnl_stream_default_flags.rawValue), "stream_create")
        stream = s!
    }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// Sets how many OpenMP threads oneDNN kernels use in this process.
    public static func setThreads(_ count: Int) { omp_set_num_threads(Int32(max(1, count))) }

    /// The number of threads oneDNN kernels will use.
    public static var threads: Int { Int(omp_get_max_threads()) }

    /// True when oneDNN's kernels run AVX-512 (avx512_core or later) on this CPU.
    public static var hasAVX512: Bool { runs(dnnl_cpu_isa_avx512_core) }

    /// True when oneDNN's kernels can multiply in bf16 on this CPU (AVX512-BF16 or AMX).
    public static var hasBFloat16: Bool { runs(dnnl_cpu_isa_avx512_core_bf16) }

    /// The instruction set oneDNN's kernels use on this CPU, by oneDNN's name (e.g. "avx2",
    /// "avx512_core_bf16"): what decides the activations' layout and the kernels' speed.
    public static var instructionSet: String {
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"),
            (dnnl_cpu_isa_sse41, "sse41")]
        return names.first { runs($0.0) }?.1 ?? "baseline x86-64"
    }

    /// True when oneDNN's effective instruction set includes `isa` (its values are bit masks, each
    /// holding the ones below it).
    private static func runs(_ isa: dnnl_cpu_isa_t) -> Bool {
        UInt32(dnnl_get_effective_cpu_isa().rawValue) & UInt32(isa.rawValue) == UInt32(isa.rawValue)
    }

    /// The oneDNN library version, e.g. "2.6.3".
    public static var libraryVersion: String {
        guard let v = dnnl_version() else { return "unknown" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.patch)"
    }

    /// Blocks until every submitted primitive has finished.
    func wait() { dnnl_stream_wait(stream) }
}
