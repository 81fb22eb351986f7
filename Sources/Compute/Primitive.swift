// An owned oneDNN primitive and its descriptor, with a small argument-list executor.
internal import CDNNL

/// Owns a primitive descriptor and the primitive made from it; both are freed in `deinit`.
final class Primitive {
    let pd: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    let engine: Engine

    /// Creates the primitive for an op descriptor (a `dnnl_*_desc_t` passed as a raw pointer), with
    /// optional attributes (post-ops).
    init(_ engine: Engine, opDesc: UnsafeRawPointer, hint: Primitive? = nil, attributes: dnnl_primitive_attr_t? = nil,
         what: String) throws {
        self.engine = engine
        var p: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&p, opDesc, attributes, engine.engine, hint?.pd),
                  "primitive_desc_create(\(what))")
        pd = p!
        var prim: dnnl_primitive_t?
        do {
            try check(dnnl_primitive_create(&prim, pd), "primitive_create(\(what))")
        } catch {
            dnnl_primitive_desc_destroy(pd)
            throw error
        }
        primitive = prim!
    }

    /// A reorder from one layout to another.
    init(_ engine: Engine, reorderFrom src: MemoryDesc, to dst: MemoryDesc) throws {
        self.engine = engine
        var p: dnnl_primitive_desc_t?
        var s = src.raw, d = dst.raw
        try check(dnnl_reorder_primitive_desc_create(&p, &s, engine.engine, &d, engine.engine, nil),
                  "reorder_primitive_desc_create")
        pd = p!
        var prim: dnnl_primitive_t?
        try check(dnnl_primitive_create(&prim, pd), "primitive_create(reorder)")
        primitive = prim!
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }

    /// The memory descriptor the primitive chose for `what` (e.g. `dnnl_query_weights_md`).
    func desc(_ what: dnnl_query_t, _ index: Int32 = 0) -> MemoryDesc {
        MemoryDesc(raw: dnnl_primitive_desc_query_md(pd, what, index).pointee)
    }

    /// Runs the primitive on the engine's stream and waits for it.
    func execute(_ args: [(Int32, Memory)]) throws {
        let list = args.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.handle) }
        try list.withUnsafeBufferPointer { buf in
            try check(dnnl_primitive_execute(primitive, engine.stream, Int32(buf.count), buf.baseAddress),
                      "primitive_execute")
        }
        engine.wait()
    }
}

/// Builds a primitive from a oneDNN op descriptor initialised by `initialise`.
func makePrimitive<D>(_ engine: Engine, _ empty: D, hint: Primitive? = nil, attributes: dnnl_primitive_attr_t? = nil,
                      what: String, _ initialise: (UnsafeMutablePointer<D>) -> dnnl_status_t) throws -> Primitive {
    var desc = empty
    try check(initialise(&desc), "\(what) desc_init")
    return try withUnsafePointer(to: &desc) {
        try Primitive(engine, opDesc: UnsafeRawPointer($0), hint: hint, attributes: attributes, what: what)
    }
}
