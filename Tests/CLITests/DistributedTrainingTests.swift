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

    func testResumeRefusesACheckpointOfAnotherDataset() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "12", "--size", "64"]).status, 0)
        let labels = cards.appendingPathComponent("labels.csv")
        let args = ["train", "--data", labels.path, "--alpha", "0.25", "--input-size", "96", "--hidden", "8",
                    "--batch-size", "4", "--checkpoint-dir", root.appendingPathComponent("ckpt").path]
        XCTAssertEqual(try BinaryRunner.run(args + ["--steps", "1"]).status, 0)
        // Move one label by a pixel: a different dataset as far as the checkpoint is concerned.
        var text = try String(contentsOf: labels, encoding: .utf8)
        text = text.replacingOccurrences(of: ",2\n", with: ",1\n", options: [], range: text.range(of: ",2\n"))
        try text.write(to: labels, atomically: true, encoding: .utf8)
        let r = try BinaryRunner.run(args + ["--resume"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("different dataset"), r.stderr)
    }
}

final class SignalAndShardTests: XCTestCase {
    func testSIGTERMCheckpointsAtAStepBoundaryAndResumeContinues() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "24", "--size", "64"]).status, 0)
        let checkpoints = root.appendingPathComponent("ckpt")
        let args = ["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25", "--input-size", "96",
                    "--hidden", "8", "--batch-size", "4", "--micro-batch", "2", "--epochs", "200", "--workers", "1",
                    "--checkpoint-dir", checkpoints.path]
        let process = Process()
        process.executableURL = BinaryRunner.binary
        process.arguments = args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for training to be under way (the first epoch line), then ask it to stop.
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while !text.contains("epoch   1") && Date() < deadline {
            text += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        XCTAssertTrue(text.contains("epoch   1"), text)
        process.terminate() // SIGTERM
        text += String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, text)
        XCTAssertTrue(text.contains("stopping on signal; checkpoint: "), text)
        let files = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).filter { $0.hasPrefix("ckpt-") }
        XCTAssertFalse(files.isEmpty)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).contains { $0.hasPrefix(".tmp") },
                       "no temporary checkpoint file may be left behind")
        // The newest checkpoint is valid: a resumed run picks it up.
        let resumed = try BinaryRunner.run(args.map { $0 == "200" ? "1" : $0 } + ["--resume", "--steps", "1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resumed from"), resumed.stdout)
    }

    func testEachSampleIsSentToAWorkerOnceAndLaterEpochsMoveNoBytesWithOneWorker() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "20", "--size", "64"]).status, 0)
        let r = try BinaryRunner.run(["train", "--data", cards.appendingPathComponent("labels.csv").path, "--val-fraction", "0.2",
                                      "--alpha", "0.25", "--input-size", "96", "--hidden", "8", "--batch-size", "8",
                                      "--micro-batch", "4", "--epochs", "3", "--workers", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let sent = r.stdout.split(separator: "\n").filter { $0.contains("image(s)") && $0.contains("to workers") }
        XCTAssertEqual(sent.count, 3, r.stdout)
        // The split holds out about 20% by hashed path; every training image goes out once, in epoch 1.
        let trainCount = r.stdout.components(separatedBy: " train / ")[0].components(separatedBy: " ").last ?? "?"
        XCTAssertTrue(sent[0].contains("epoch 1: sent \(trainCount) image(s)"), "\(sent[0]) vs \(trainCount) training images")
        XCTAssertTrue(sent[1].contains("epoch 2: sent 0 image(s)"), String(sent[1]))
        XCTAssertTrue(sent[2].contains("epoch 3: sent 0 image(s)"), String(sent[2]))
    }
}
