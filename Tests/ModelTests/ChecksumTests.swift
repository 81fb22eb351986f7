// CRC-32C by the CPU's instruction agrees with the table at every length and alignment, and both
// give the standard check value.
import Model
import XCTest

final class ChecksumTests: XCTestCase {
    func testHardwareCRC32CAgreesWithTheTableAtEveryLengthAndAlignment() throws {
        let digits = Array("123456789".utf8)
        XCTAssertEqual(crc32cByTable(digits, count: digits.count), 0xE306_9283)
        XCTAssertEqual(crc32c(digits, count: digits.count), 0xE306_9283)
        #if arch(x86_64)
        XCTAssertTrue(crc32cInHardware, "an x86-64 CPU of this decade has SSE4.2: the fast path must be the one measured")
        #endif
        let bytes = (0..<4099).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        try bytes.withUnsafeBytes { raw in
            let base = try XCTUnwrap(raw.baseAddress)
            for start in 0..<9 {
                for count in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4090] {
                    XCTAssertEqual(crc32c(base + start, count: count), crc32cByTable(base + start, count: count),
                                   "\(count) bytes from offset \(start)")
                }
            }
            // Continuing a running CRC across pieces gives the CRC of the whole.
            let whole = crc32c(base, count: 4099)
            XCTAssertEqual(crc32c(base + 1000, count: 3099, continuing: crc32c(base, count: 1000)), whole)
        }
    }
}
