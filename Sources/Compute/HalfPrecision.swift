// Rounding f32 arrays to 16-bit floats and back: bfloat16 (f32's exponent, 8 significant bits)
// and IEEE binary16 (fp16: 5 exponent bits, 11 significant bits). Both round to nearest, ties to
// even, so the same input gives the same bits on every machine and in every process: what lets
// compressed gradient frames keep N workers equal to one.

/// bf16 and fp16 conversion of whole buffers. Element counts are the caller's; nothing is allocated
/// here except the returned arrays.
public enum HalfPrecision {
    /// `x` rounded to bfloat16 (ties to even); a NaN stays a (quiet) NaN, infinities stay infinite,
    /// and finite values beyond bf16's largest round to infinity as f32 arithmetic would.
    @inline(__always)
    public static func bfloat16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let roundingBias = 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
    }

    /// The f32 value of bfloat16 bits (exact).
    @inline(__always)
    public static func float(bfloat16 bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// `count` floats at `source` rounded to bf16 into `destination` (count UInt16).
    public static func roundToBFloat16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { destination[i] = bfloat16Bits(source[i]) }
    }

    /// `count` bf16 values widened to f32 (exact).
    public static func widenBFloat16(_ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { destination[i] = float(bfloat16: source[i]) }
    }

    /// `count` floats at `source`, each multiplied by `scale` (a power of two, so exactly), rounded
    /// to fp16 (ties to even) into `destination`. Values beyond fp16's range become infinite, as
    /// the conversion instruction does; the caller picks `scale` so that finite ones do not.
    public static func roundToFloat16(_ source: UnsafePointer<Float>, scale: Float, _ destination: UnsafeMutablePointer<UInt16>,
                                      count: Int) {
        for i in 0..<count { destination[i] = Float16(source[i] * scale).bitPattern }
    }

    /// `count` fp16 values widened to f32 and multiplied by `scale` (a power of two: exact unless
    /// the result leaves f32's normal range).
    public static func widenFloat16(_ source: UnsafePointer<UInt16>, scale: Float, _ destination: UnsafeMutablePointer<Float>,
                                    count: Int) {
        for i in 0..<count { destination[i] = Float(Float16(bitPattern: source[i])) * scale }
    }

    /// The power-of-two scale that brings the largest finite magnitude of `count` floats at `source`
    /// into [2^14, 2^15), below fp16's largest finite value (65504): small values then keep as many
    /// of fp16's bits as the largest allows, instead of underflowing (a per-tensor loss scale that
    /// needs no search and no overflow retry). 1 for an all-zero or non-finite buffer; clamped to
    /// f32's normal exponents.
    public static func float16Scale(_ source: UnsafePointer<Float>, count: Int) -> Float {
        var largest: Float = 0
        for i in 0..<count {
            let m = abs(source[i])
            if m.isFinite && m > largest { largest = m }
        }
        guard largest > 0 else { return 1 }
        let exponent = min(126, max(-126, 14 - Int(largest.exponent)))
        return Float(sign: .plus, exponent: exponent, significand: 1)
    }
}
