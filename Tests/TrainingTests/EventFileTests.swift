// TensorBoard's record framing without TensorBoard: CRC-32C against its published check value, the
// masked CRCs against values computed by tensorboard's own `masked_crc32c` (pywrap_tensorflow of
// tensorboard 2.21, printed once and pasted here), the record layout, and new files sorting last.
// Reading our files back with tensorboard's readers is CLITests/TensorBoardLogTests.
import Foundation
import Model
import TestSupport
import Training
import XCTest

final class EventFileTests: XCTestCase {
    func testCRC32CCheckValueAndMaskedValuesMatchTensorBoard() {
        let digits = Array("123456789".utf8)
        XCTAssertEqual(crc32c(digits, count: digits.count), 0xE306_9283, "the CRC-32C check value")
        let half = crc32c(digits, count: 4)
        XCTAssertEqual(digits.withUnsafeBytes { crc32c($0.baseAddress! + 4, count: 5, continuing: half) }, 0xE306_9283,
                       "continuing a CRC over the rest gives the whole one")
        // python -c "from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as m; import struct;
        //            print(hex(m(b'123456789')), hex(m(struct.pack('<Q', 5))), hex(m(b'hello')))"
        XCTAssertEqual(EventFile.masked(crc32c(digits, count: digits.count)), 0xC78A_B0E5)
        var five = UInt64(5).littleEndian
        let length = withUnsafeBytes(of: &five) { Array($0) }
        XCTAssertEqual(EventFile.masked(crc32c(length, count: 8)), 0x3E04_B2EA)
        let hello = Array("hello".utf8)
        XCTAssertEqual(EventFile.masked(crc32c(hello, count: hello.count)), 0x191C_1FBB)
    }

    func testRecordIsLengthMaskedCRCDataMaskedCRC() {
        let hello = Array("hello".utf8)
        let record = EventFile.record(hello)
        XCTAssertEqual(record.count, 8 + 4 + 5 + 4)
        XCTAssertEqual(Array(record[0..<8]), [5, 0, 0, 0, 0, 0, 0, 0], "uint64 length, little-endian")
        XCTAssertEqual(Array(record[8..<12]), [0xEA, 0xB2, 0x04, 0x3E], "masked CRC-32C of the length")
        XCTAssertEqual(Array(record[12..<17]), hello)
        XCTAssertEqual(Array(record[17..<21]), [0xBB, 0x1F, 0x1C, 0x19], "masked CRC-32C of the data")
    }

    func testNewFilesSortAfterExistingOnesAndStartWithTheFileVersion() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let future = Date(timeIntervalSince1970: 4_000_000_000)
        let first = try EventFile(folder: folder, wallTime: future)
        let second = try EventFile(folder: folder, wallTime: Date())   // a clock set back
        XCTAssertLessThan(first.url.lastPathComponent, second.url.lastPathComponent, "TensorBoard reads files in name order")
        XCTAssertTrue(second.url.lastPathComponent.hasPrefix("events.out.tfevents.4000000001."), second.url.lastPathComponent)
        let bytes = Array(try Data(contentsOf: first.url))
        let version = TensorBoardEvent.fileVersion(wallTime: future)
        XCTAssertEqual(bytes, EventFile.record(version), "a new file holds exactly the file-version event")
        XCTAssertNotNil(String(decoding: version, as: UTF8.self).range(of: "brain.Event:2"))
    }
}
