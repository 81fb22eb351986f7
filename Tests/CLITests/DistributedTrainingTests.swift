// The distributed invariants, end to end with real processes and real ZeroMQ sockets: N workers
// end with the same weights as one process doing the same micro-batches in sequence, and a run
// stopped and resumed from a checkpoint ends with the same weights as one that never stopped.
import Foundation
import XCTest

final class DistributedTrainingTests: XCTestCase {
    nonisolated(unsafe) private static var dataset: URL?

    /// A small synthetic dataset shared by the tests of this class.
    private func data() throws -> URL {
        if let d = Self.dataset { return d }
        let dir = try BinaryRunner.temporaryDirectory().appendingPathComponent("cards")
        let r = try BinaryRunner.run(["synth", "--out", dir.path, "--count", "20", "--size", "64", "--seed", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        Self.dataset = dir
        return dir
    }

    /// Common flags: a tiny model, 16 training samples, batch 8 in micro-batches of 3 (so a step
    /// has micro-batches of unequal size), 2 steps per epoch.
    private func trainArguments(_ out: URL, extra: [String]) throws -> [String] {
        ["train", "--data", try data().appendingPathComponent("labels.csv").path, "--val-fraction", "0.2",
         "--alpha", "0.25", "--input-size", "96", "--hidden", "16", "--batch-size", "8", "--micro-batch", "3",
         "--epochs", "2", "--lr", "0.01", "--seed", "5", "--out", out.path] + extra
    }

    private func weights(_ dir: URL) throws -> Foundation.Data {
        try Foundation.Data(contentsOf: dir.appendingPathComponent("model.safetensors"))
    }

    func testOneTwoAndThreeWorkersGiveTheWeightsOfOneProcess() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let reference = root.appendingPathComponent("local")
        let r = try BinaryRunner.run(try trainArguments(reference, extra: []))
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let expected = try weights(reference)
        for n in 1...3 {
            let out = root.appendingPathComponent("workers-\(n)")
            let w = try BinaryRunner.run(try trainArguments(out, extra: ["--workers", "\(n)"]))
            XCTAssertEqual(w.status, 0, w.stdout + w.stderr)
            XCTAssertTrue(w.stdout.contains("worker-\(n) joined"), w.stdout)
            XCTAssertEqual(try weights(out), expected, "\(n) worker(s) ended with different weights than one process")
        }
    }

    func testStoppedAndResumedRunEndsWithTheWeightsOfAnUninterruptedOne() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let straight = root.appendingPathComponent("straight")
        XCTAssertEqual(try BinaryRunner.run(try trainArguments(straight, extra: [])).status, 0)

        let checkpoints = root.appendingPathComponent("ckpt").path
        let first = try BinaryRunner.run(try trainArguments(root.appendingPathComponent("part1"),
                                                            extra: ["--checkpoint-dir", checkpoints, "--steps", "1"]))
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertTrue(first.stdout.contains("checkpoint: "), first.stdout)
        // Resume through two worker processes: the checkpoint does not care who computes.
        let resumed = root.appendingPathComponent("resumed")
        let second = try BinaryRunner.run(try trainArguments(resumed, extra: ["--checkpoint-dir", checkpoints, "--resume",
                                                                               "--workers", "2"]))
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        XCTAssertTrue(second.stdout.contains("resumed from"), second.stdout)
        XCTAssertEqual(try weights(resumed), try weights(straight), "resumed run ended with different weights")
    }

    func testResumeRefusesACheckpointOfAnotherModel() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoints = root.appendingPathComponent("ckpt").path
        XCTAssertEqual(try BinaryRunner.run(try trainArguments(root.appendingPathComponent("a"),
                                                               extra: ["--checkpoint-dir", checkpoints, "--steps", "1"])).status, 0)
        var args = try trainArguments(root.appendingPathComponent("b"), extra: ["--checkpoint-dir", checkpoints, "--resume"])
        args[args.firstIndex(of: "--hidden")! + 1] = "32"
        let r = try BinaryRunner.run(args)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("different model"), r.stderr)
    }
}
