// The wire format: round trips, checksums, and clean rejection of anything malformed.
import Cluster
import Model
import TestSupport
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
        XCTAssertThrowsError(try WireCodec.decode(f)) { XCTAssertEqual($0 as? WireError, .checksum(.gradients, index: 0)) }
        f = frames(m)
        f.removeLast()
        XCTAssertThrowsError(try WireCodec.decode(f)) {
            XCTAssertEqual($0 as? WireError, .frameCount(.gradients, announced: 1, carried: 0))
            XCTAssertTrue("\($0)".contains("announces 1 bulk"), "\($0)")
        }
        XCTAssertThrowsError(try WireCodec.decode([Foundation.Data("GET / HTTP/1.1 and more".utf8)])) {
            XCTAssertEqual($0 as? WireError, .badMagic)
        }
        XCTAssertThrowsError(try WireCodec.decode([])) { XCTAssertEqual($0 as? WireError, .tooShort) }
        f = frames(m)
        f[0][4] = 9 // version 9
        XCTAssertThrowsError(try WireCodec.decode(f)) {
            XCTAssertEqual($0 as? WireError, .versionMismatch(peer: 9))
            XCTAssertTrue("\($0)".contains("same commit"), "\($0)")
        }
    }

    /// What the coordinator accepts: only the kinds workers send, gradients only with the frame
    /// sizes of its model, headers only up to its limit; refused before any bulk frame is read.
    func testCoordinatorLimitsRefuseWhatWorkersNeverSend() throws {
        let limits = WireLimits(headerBytes: 1024, kinds: [.hello: .none, .gradients: .oneOf([[40], [40, 8]])])
        let good = Message(kind: .gradients, step: 1, bulk: [.bytes(Foundation.Data(repeating: 1, count: 40))])
        XCTAssertNoThrow(try WireCodec.decode(frames(good), limits: limits))
        let wrongSize = Message(kind: .gradients, step: 1, bulk: [.bytes(Foundation.Data(repeating: 1, count: 44))])
        XCTAssertThrowsError(try WireCodec.decode(frames(wrongSize), limits: limits)) {
            XCTAssertEqual($0 as? WireError, .bulkNotAllowed(.gradients, sizes: [44]))
        }
        XCTAssertThrowsError(try WireCodec.decode(frames(Message(kind: .weights)), limits: limits)) {
            XCTAssertEqual($0 as? WireError, .unexpectedKind(.weights))
        }
        let big = Message(kind: .hello, metadata: Foundation.Data(repeating: 32, count: 2000))
        XCTAssertThrowsError(try WireCodec.decode(frames(big), limits: limits)) {
            XCTAssertEqual($0 as? WireError, .headerTooLarge(bytes: 2018, limit: 1024))
        }
        // A header announcing no bulk, followed by 200 frames: refused at the first extra frame.
        var admission = WireAdmission(limits)
        let header = frames(Message(kind: .hello))[0]
        try admission.admit(size: header.count)
        try admission.read(header: header)
        XCTAssertThrowsError(try admission.admit(size: 1_500_000)) {
            XCTAssertEqual($0 as? WireError, .frameCount(.hello, announced: 0, carried: 1))
        }
    }

    /// Seeded mutations of a valid message, each of a class with a known outcome: the decoder
    /// throws exactly the error of that class (CRC-32 catches every changed byte of a bulk frame),
    /// or decodes when only unchecked metadata changed. Any other mutation throws a WireError.
    func testMutationsAreRejectedWithTheErrorOfTheirKind() {
        var rng = FuzzSeed.generator(20261202)
        let good = frames(Message(kind: .weights, step: 3, metadata: Foundation.Data("{\"a\":1}".utf8),
                                  bulk: [.bytes(Foundation.Data(repeating: 3, count: 40)), .bytes(Foundation.Data(repeating: 5, count: 9))]))
        let metadataStart = 18 + 12 * 2
        func draw(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        for trial in 0..<2000 {
            var f = good
            let expected: WireError?
            switch trial % 10 {
            case 0:
                let frame = 1 + draw(2), at = draw(f[frame].count)
                f[frame][at] ^= UInt8(1 + draw(255))
                expected = .checksum(.weights, index: frame - 1)
            case 1: f[0] = f[0].prefix(draw(18)); expected = .tooShort
            case 2: f[0] = f[0].prefix(18 + draw(metadataStart - 18)); expected = .headerTruncated(.weights)
            case 3: f[0][draw(4)] ^= UInt8(1 + draw(255)); expected = .badMagic
            case 4:
                let other = (Int(wireProtocolVersion) + 1 + draw(254)) % 256  // any low byte but this build's
                f[0][4] = UInt8(other); expected = .versionMismatch(peer: UInt16(other))
            case 5:
                let unknown = Int(MessageKind.allCases.map(\.rawValue).max()!) + 1  // the first byte no kind has
                f[0][6] = UInt8(unknown + draw(256 - unknown)); expected = .unknownKind(f[0][6])
            case 6: f.removeLast(); expected = .frameCount(.weights, announced: 2, carried: 1)
            case 7:
                f.append(Foundation.Data(repeating: 0, count: draw(64)))
                expected = .frameCount(.weights, announced: 2, carried: 3)
            case 8:
                let frame = 1 + draw(2)
                f[frame].append(1)
                expected = .frameLength(.weights, index: frame - 1, bytes: f[frame].count, announced: f[frame].count - 1)
            default:
                f[0][metadataStart + draw(f[0].count - metadataStart)] ^= UInt8(1 + draw(255))
                expected = nil
            }
            do {
                let m = try WireCodec.decode(f)
                XCTAssertNil(expected, "trial \(trial): a mutation of class \(trial % 10) decoded")
                XCTAssertEqual(m.bulk.map(\.data), Array(good.dropFirst()), "trial \(trial)")
            } catch {
                XCTAssertEqual(error as? WireError, expected, "trial \(trial): \(error)")
            }
            // Any byte anywhere, or any cut: a WireError or a message, never a trap or another error.
            var g = good
            let frame = draw(g.count)
            if !g[frame].isEmpty {
                if draw(2) == 0 { g[frame][draw(g[frame].count)] = UInt8(draw(256)) } else { g[frame] = g[frame].prefix(draw(g[frame].count)) }
            }
            do { _ = try WireCodec.decode(g) } catch { XCTAssertTrue(error is WireError, "trial \(trial): \(error)") }
        }
    }
}
