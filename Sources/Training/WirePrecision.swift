// How parameters and gradients travel between coordinator and workers (`--wire-precision`): the
// one setting of the distributed path that changes the maths, so it is part of the run's
// configuration, recorded, sent in the welcome and checked on resume.

/// The number format of the weights the coordinator broadcasts and of the gradients workers send.
/// The coordinator keeps f32 master weights, f32 optimizer state and reduces in f32 whatever this is;
/// BN statistics always travel as f32. Rounding is deterministic (ties to even), so at one setting
/// any number of workers gives bit-identical weights. The single-process path has no wire and
/// computes as `f32` does.
public enum WirePrecision: String, Codable, Sendable, CaseIterable {
    /// 4 bytes per value, exact.
    case f32
    /// 2 bytes per value: f32's range, 8 significant bits. Needs no scaling.
    case bf16
    /// 2 bytes per value: 11 significant bits, range 6e-5...65504, so each tensor travels with a
    /// power-of-two scale that puts its largest value just below fp16's largest (no underflow of
    /// small gradients, no overflow, exact to undo).
    case fp16

    /// Bytes per value on the wire.
    public var bytesPerValue: Int { self == .f32 ? 4 : 2 }
}
