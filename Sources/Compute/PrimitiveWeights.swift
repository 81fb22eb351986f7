// Bridges parameters kept in the flat buffer's plain layout and the layout a primitive prefers.
internal import CDNNL

/// A parameter tensor as a primitive reads it. When the primitive's preferred layout equals the
/// plain one, the flat buffer is used in place; otherwise it is reordered into a private copy.
final class PrimitiveWeights {
    let source: Memory
    let chosen: Memory?
    private let toChosen: Primitive?

    init(_ engine: Engine, plain: MemoryDesc, values: UnsafeMutablePointer<Float>, preferred: MemoryDesc) throws {
        source = try Memory(engine, plain, borrowing: UnsafeMutableRawPointer(values))
        if preferred == plain {
            chosen = nil
            toChosen = nil
        } else {
            let copy = try Memory(engine, preferred)
            chosen = copy
            toChosen = try Primitive(engine, reorderFrom: plain, to: preferred)
        }
    }

    /// Brings the private copy up to date with the flat buffer and returns the memory to pass.
    func prepare() throws -> Memory {
        guard let chosen, let toChosen else { return source }
        try toChosen.execute([(Arg.src, source), (Arg.dst, chosen)])
        return chosen
    }

    /// The memory last prepared (the flat buffer itself, or the private copy).
    var current: Memory { chosen ?? source }
}

/// A parameter gradient as a primitive writes it, then delivered to the flat gradient buffer's plain
/// layout (directly when the layouts agree, by a reorder otherwise).
final class PrimitiveGradients {
    let destination: Memory
    let scratch: Memory?
    private let toPlain: Primitive?

    init(_ engine: Engine, plain: MemoryDesc, gradients: UnsafeMutablePointer<Float>, preferred: MemoryDesc) throws {
        destination = try Memory(engine, plain, borrowing: UnsafeMutableRawPointer(gradients))
        if preferred == plain {
            scratch = nil
            toPlain = nil
        } else {
            scratch = try Memory(engine, preferred)
            toPlain = try Primitive(engine, reorderFrom: preferred, to: plain)
        }
    }

    /// The memory the primitive should write into.
    var target: Memory { scratch ?? destination }

    /// Moves what the primitive wrote into the flat gradient buffer.
    func deliver() throws {
        guard let scratch, let toPlain else { return }
        try toPlain.execute([(Arg.src, scratch), (Arg.dst, destination)])
    }
}
