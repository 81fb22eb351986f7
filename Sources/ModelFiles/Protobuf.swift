// A minimal Protocol Buffers wire-format writer (varints, fixed 32- and 64-bit, length-delimited and
// packed repeated fields): enough to write ONNX models and TensorBoard events without a code
// generator. Encoding only.

/// Appends protobuf fields to a byte buffer. Each call writes one field (tag then payload); fields
/// are written in the order called, which every protobuf reader accepts.
/// See https://protobuf.dev/programming-guides/encoding/ for the format.
public struct ProtobufWriter: Sendable {
    /// The encoded message so far.
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// The wire types this writer uses (the low 3 bits of a tag).
    public enum WireType: UInt8, Sendable {
        case varint = 0, fixed64 = 1, fixed32 = 5, lengthDelimited = 2
    }

    /// `value` as a base-128 varint: 7 bits per byte, least significant group first, the high bit set
    /// on every byte but the last. 1 byte for 0...127, 10 bytes for values with the top bit set.
    public static func varint(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
        return out
    }

    mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func appendTag(_ field: Int, _ wireType: WireType) {
        precondition(field >= 1 && field < 1 << 29, "protobuf field number \(field) out of range")
        appendVarint(UInt64(field) << 3 | UInt64(wireType.rawValue))
    }

    /// An `int64`, `int32`, enum or `bool` field. NOTE: negative values are sign-extended to 64 bits
    /// and so take 10 bytes, as protobuf specifies for int32 and int64 (not zigzag: that is sint*).
    public mutating func int(_ field: Int, _ value: Int64) {
        appendTag(field, .varint)
        appendVarint(UInt64(bitPattern: value))
    }

    /// A `float` field: 4 bytes, little-endian IEEE 754.
    public mutating func float(_ field: Int, _ value: Float) {
        appendTag(field, .fixed32)
        appendFixed32(value.bitPattern)
    }

    /// A `double` field: 8 bytes, little-endian IEEE 754.
    public mutating func double(_ field: Int, _ value: Double) {
        appendTag(field, .fixed64)
        let word = value.bitPattern
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
    }

    /// A `bytes` field.
    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        appendTag(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A `string` field (UTF-8).
    public mutating func string(_ field: Int, _ value: String) {
        bytes(field, Array(value.utf8))
    }

    /// An embedded message field: `body` writes the message's own fields.
    public mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        body(&inner)
        bytes(field, inner.bytes)
    }

    /// A repeated `int64`/`int32` field, packed: one length-delimited field holding the varints.
    public mutating func packedInts(_ field: Int, _ values: [Int64]) {
        var payload = ProtobufWriter()
        for v in values { payload.appendVarint(UInt64(bitPattern: v)) }
        bytes(field, payload.bytes)
    }

    /// A repeated `float` field, packed: one length-delimited field holding 4 bytes per value.
    public mutating func packedFloats(_ field: Int, _ values: [Float]) {
        var payload = ProtobufWriter()
        for v in values { payload.appendFixed32(v.bitPattern) }
        bytes(field, payload.bytes)
    }

    mutating func appendFixed32(_ word: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
    }
}
