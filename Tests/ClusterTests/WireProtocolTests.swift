// The wire format: round trips, checksums, and clean rejection of anything malformed.
import Cluster
import Model
import Foundation
import XCTest

final class WireProtocolTests: XCTestCase {
    private func frames(_ m: Message) -> [Foundation.Data] {
        WireCodec.encode(m).map { f -> Foundation.Data in
            switch f {
            case .bytes(let d): return d
            case .shared(let s): return s.data
            }
        }
    }

    func testCRC32MatchesTheStandardCheckValue() {
        let bytes = Array("123456789".utf8)
        XCTAssertEqual(crc32(bytes, count: bytes.count), 0xCBF4_3926)
        let long = (0..<1003).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        // Slicing-by-4 and the byte-at-a-time tail agree with a plain bitwise CRC.
        var c: UInt32 = 0xFFFF_FFFF
        for b in long { c ^= UInt32(b); for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 } }
        XCTAssertEqual(crc32(long, count: long.count), c ^ 0xFFFF_FFFF)
    }

    func testMessageRoundTripsWithMetadataAndBulkFrames() throws {
        struct Work: Codable, Equatable { var epoch: Int; var indices: [Int] }
        let payload: [Float] = [1.5, -2, 3.25]
        let shared = payload.withUnsafeBytes { SharedBytes(copying: $0.baseAddress!, count: $0.count) }
        let m = try Message(kind: .work, step: 42, Work(epoch: 3, indices: [5, 9]), bulk: [.shared(shared), .bytes(Foundation.Data([7, 8]))])
        let back = try WireCodec.decode(frames(m))
        XCTAssertEqual(back.kind, .work)
        XCTAssertEqual(back.step, 42)
        XCTAssertEqual(try back.fields(Work.self), Work(epoch: 3, indices: [5, 9]))
        XCTAssertEqual(back.bulk.count, 2)
        guard case .bytes(let first) = back.bulk[0] else { return XCTFail("bulk frame should decode as bytes") }
        XCTAssertEqual(first, shared.data)
        XCTAssertTrue(back.summary.hasPrefix("work step=42 bulk=2"), back.summary)
    }

    func testCorruptedTruncatedAndForeignMessagesAreRejectedWithAReason() throws {
        let m = Message(kind: .gradients, step: 7, bulk: [.bytes(Foundation.Data(repeating: 1, count: 64))])
        var f = frames(m)
        f[1][10] ^= 0xFF
        XCTAssertThrowsError(try WireCodec.decode(f)) { XCTAssertTrue("\($0)".contains("checksum"), "\($0)") }
        f = frames(m)
        f.removeLast()
        XCTAssertThrowsError(try WireCodec.decode(f)) { XCTAssertTrue("\($0)".contains("announces 1 bulk"), "\($0)") }
        XCTAssertThrowsError(try WireCodec.decode([Foundation.Data("GET / HTTP/1.1".utf8)]))
        XCTAssertThrowsError(try WireCodec.decode([]))
        f = frames(m)
        f[0][4] = 9 // version 9
        XCTAssertThrowsError(try WireCodec.decode(f)) { XCTAssertTrue("\($0)".contains("same commit"), "\($0)") }
    }

    func testRandomMutationsNeverCrashTheDecoder() {
        var rng = SystemRandomNumberGenerator()
        let good = frames(Message(kind: .weights, step: 3, metadata: Foundation.Data("{\"a\":1}".utf8),
                                  bulk: [.bytes(Foundation.Data(repeating: 3, count: 40))]))
        for _ in 0..<500 {
            var f = good
            let which = Int.random(in: 0..<f.count, using: &rng)
            if !f[which].isEmpty {
                let i = Int.random(in: 0..<f[which].count, using: &rng)
                if Bool.random(using: &rng) { f[which][i] = UInt8.random(in: 0...255, using: &rng) } else { f[which] = f[which].prefix(i) }
            }
            _ = try? WireCodec.decode(f)
        }
    }
}
