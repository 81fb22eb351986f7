// The protobuf wire writer against hand-worked encodings (the examples of the protobuf encoding guide,
// https://protobuf.dev/programming-guides/encoding/).
import XCTest
@testable import ModelFiles

final class ProtobufTests: XCTestCase {
    func testVarintEdgeCases() {
        XCTAssertEqual(ProtobufWriter.varint(0), [0x00])
        XCTAssertEqual(ProtobufWriter.varint(1), [0x01])
        XCTAssertEqual(ProtobufWriter.varint(127), [0x7F], "largest one-byte varint")
        XCTAssertEqual(ProtobufWriter.varint(128), [0x80, 0x01], "smallest two-byte varint")
        XCTAssertEqual(ProtobufWriter.varint(150), [0x96, 0x01])
        XCTAssertEqual(ProtobufWriter.varint(300), [0xAC, 0x02])
        XCTAssertEqual(ProtobufWriter.varint(16_383), [0xFF, 0x7F])
        XCTAssertEqual(ProtobufWriter.varint(16_384), [0x80, 0x80, 0x01])
        XCTAssertEqual(ProtobufWriter.varint(UInt64(UInt32.max)), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        XCTAssertEqual(ProtobufWriter.varint(UInt64.max), [UInt8](repeating: 0xFF, count: 9) + [0x01], "10 bytes")
    }

    func testScalarFields() {
        var w = ProtobufWriter()
        w.int(1, 150)
        XCTAssertEqual(w.bytes, [0x08, 0x96, 0x01], "field 1, wire type 0, varint 150")

        w = ProtobufWriter()
        w.int(1, -1)
        XCTAssertEqual(w.bytes, [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01], "negative int64: sign-extended, 10 bytes")
        w = ProtobufWriter()
        w.int(2, Int64.min)
        XCTAssertEqual(w.bytes, [0x10] + [UInt8](repeating: 0x80, count: 9) + [0x01])

        w = ProtobufWriter()
        w.float(2, 1.0)
        XCTAssertEqual(w.bytes, [0x15, 0x00, 0x00, 0x80, 0x3F], "field 2, wire type 5, little-endian IEEE 754")

        w = ProtobufWriter()
        w.double(1, 1.0)
        XCTAssertEqual(w.bytes, [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F], "field 1, wire type 1, little-endian IEEE 754 double")
        w = ProtobufWriter()
        w.double(1, -2.5)
        XCTAssertEqual(w.bytes, [0x09, 0, 0, 0, 0, 0, 0, 0x04, 0xC0])

        w = ProtobufWriter()
        w.string(2, "testing")
        XCTAssertEqual(w.bytes, [0x12, 0x07] + Array("testing".utf8))
        w = ProtobufWriter()
        w.string(3, "")
        XCTAssertEqual(w.bytes, [0x1A, 0x00], "an empty string is a zero length")

        w = ProtobufWriter()
        w.int(16, 1)
        XCTAssertEqual(w.bytes, [0x80, 0x01, 0x01], "field numbers from 16 need a two-byte tag")
    }

    func testLengthDelimitedNestingAndPacking() {
        var w = ProtobufWriter()
        w.message(3) { $0.int(1, 150) }
        XCTAssertEqual(w.bytes, [0x1A, 0x03, 0x08, 0x96, 0x01], "embedded message: tag, length, body")

        w = ProtobufWriter()
        w.packedInts(4, [3, 270, 86_942])
        XCTAssertEqual(w.bytes, [0x22, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05])
        w = ProtobufWriter()
        w.packedInts(1, [])
        XCTAssertEqual(w.bytes, [0x0A, 0x00], "an empty packed field (a scalar tensor's dims)")

        w = ProtobufWriter()
        w.packedFloats(7, [1.0, -2.0])
        XCTAssertEqual(w.bytes, [0x3A, 0x08, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0])

        w = ProtobufWriter()
        let long = [UInt8](repeating: 7, count: 200)
        w.bytes(9, long)
        XCTAssertEqual(Array(w.bytes.prefix(3)), [0x4A, 0xC8, 0x01], "lengths are varints too")
        XCTAssertEqual(w.bytes.count, 3 + 200)
    }
}
