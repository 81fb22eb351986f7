// The run's TensorBoard log read back by the tensorboard package (scripts/check-tensorboard.py):
// records pass its CRC-32C checks, scalars equal metrics.jsonl step by step (after a resume from
// an older checkpoint, the replayed steps once), validation metrics and images per epoch.
import Foundation
import TestSupport
import XCTest

final class TensorBoardLogTests: XCTestCase {
    func testLogReadsBackInTensorBoardWithTheValuesOfTheMetricsLog() throws {
        _ = try PythonScripts.interpreter()
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cards = dir.appendingPathComponent("cards"), run = dir.appendingPathComponent("run")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "40", "--size", "64"]).status, 0)
        let first = try BinaryRunner.run(["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25",
                                          "--input-size", "96", "--hidden", "16", "--epochs", "3", "--batch-size", "8",
                                          "--tensorboard-images", "2", "--steps", "7", "--out", run.path])
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        // As after a crash: the newest checkpoint is gone, so steps after the older one run again.
        let checkpoints = run.appendingPathComponent("checkpoints")
        let names = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted()
        XCTAssertGreaterThanOrEqual(names.count, 2, "\(names)")
        try FileManager.default.removeItem(at: checkpoints.appendingPathComponent(names.last!))
        let resumed = try BinaryRunner.run(["train", "--resume", run.path])
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resumed from") && !resumed.stdout.contains("at step 7"), resumed.stdout)

        let check = try PythonScripts.run("check-tensorboard.py", [run.path])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.contains("check-tensorboard: OK: 2 file(s)") && check.output.contains("3 epochs")
                      && check.output.contains("3 images"), check.output)

        // The reader's CRC check is real: one flipped byte in a record is refused.
        let events = try FileManager.default.contentsOfDirectory(atPath: run.path).filter { $0.hasPrefix("events.out.tfevents.") }.sorted()
        let file = run.appendingPathComponent(events[0])
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: file)
        let corrupt = try PythonScripts.run("check-tensorboard.py", [run.path])
        XCTAssertEqual(corrupt.status, 1, corrupt.output)
        XCTAssertTrue(corrupt.output.contains("crc32 check"), corrupt.output)
    }
}
