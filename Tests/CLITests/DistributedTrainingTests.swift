// The distributed invariants, end to end with real processes and real ZeroMQ sockets: N workers
// end with the same weights as one process doing the same micro-batches in sequence, and a run
// stopped and resumed from a checkpoint ends with the same weights as one that never stopped; each
// for the regression, heatmap and SimCC heads.
import Compute
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

    /// The last model of the run in `dir`.
    private func weights(_ dir: URL) throws -> Foundation.Data {
        try Foundation.Data(contentsOf: dir.appendingPathComponent("last/model.safetensors"))
    }

    /// The head flags the invariants are checked with: each head kind, the distribution heads with
    /// their KL loss on (so its gradient travels too).
    private static let heads: [[String]] = [["--head", "regression"], ["--head", "heatmap", "--distribution-weight", "0.5"],
                                            ["--head", "simcc", "--simcc-split", "1", "--distribution-weight", "0.5"]]

    func testOneTwoAndThreeWorkersGiveTheWeightsOfOneProcess() throws {
        for head in Self.heads {
            let root = try BinaryRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: root) }
            let reference = root.appendingPathComponent("local")
            let r = try BinaryRunner.run(try trainArguments(reference, extra: head))
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            let expected = try weights(reference)
            for n in 1...3 {
                let out = root.appendingPathComponent("workers-\(n)")
                let w = try BinaryRunner.run(try trainArguments(out, extra: head + ["--workers", "\(n)"]))
                XCTAssertEqual(w.status, 0, w.stdout + w.stderr)
                XCTAssertTrue(w.stdout.contains("worker-\(n) joined"), w.stdout)
                XCTAssertEqual(try weights(out), expected, "\(n) worker(s) ended with different weights than one process (\(head))")
            }
        }
    }

    func testStoppedAndResumedRunEndsWithTheWeightsOfAnUninterruptedOne() throws {
        for head in Self.heads {
            let root = try BinaryRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: root) }
            let straight = root.appendingPathComponent("straight")
            XCTAssertEqual(try BinaryRunner.run(try trainArguments(straight, extra: head)).status, 0)

            let run = root.appendingPathComponent("run")
            let first = try BinaryRunner.run(try trainArguments(run, extra: head + ["--steps", "1"]))
            XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
            XCTAssertTrue(first.stdout.contains("checkpoint: "), first.stdout)
            // Resume from the run folder alone, through two worker processes: the checkpoint does not
            // care who computes, and the recorded configuration needs no flag retyped.
            let second = try BinaryRunner.run(["train", "--resume", run.path, "--workers", "2"])
            XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
            XCTAssertTrue(second.stdout.contains("resumed from"), second.stdout)
            XCTAssertEqual(try weights(run), try weights(straight), "resumed run ended with different weights (\(head))")
        }
    }

    /// `--precision bf16` is part of the run: recorded, used by the local workers, and held on
    /// resume (asking for f32 then is refused, naming it). On a CPU without AVX512-BF16 the run says
    /// so and records f32 instead.
    func testComputePrecisionIsRecordedUsedByTheWorkersAndHeldOnResume() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let run = root.appendingPathComponent("run")
        let r = try BinaryRunner.run(try trainArguments(run, extra: ["--steps", "1", "--workers", "1", "--precision", "bf16"]))
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let record = try String(contentsOf: run.appendingPathComponent("config.json"), encoding: .utf8)
        if r.stdout.contains("warning: --precision bf16 needs a CPU with AVX512-BF16") {
            XCTAssertTrue(record.contains("\"computePrecision\" : \"f32\""), record)
            return
        }
        XCTAssertTrue(record.contains("\"computePrecision\" : \"bf16\""), record)
        XCTAssertTrue(r.stdout.contains("[worker-1] joined:") && r.stdout.contains("bf16 convolutions"), r.stdout)
        let refused = try BinaryRunner.run(["train", "--resume", run.path, "--precision", "f32", "--steps", "2"])
        XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("computePrecision: recorded \"bf16\", given \"f32\""), refused.stderr)
        let resumed = try BinaryRunner.run(["train", "--resume", run.path, "--steps", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resumed from"), resumed.stdout)
    }

    /// `--precision auto`, the default: bf16 where this CPU has AVX512-BF16 or AMX (the run says so),
    /// else f32; recorded, and kept by a resume that names no precision, which a CPU without bf16
    /// kernels refuses (naming why) rather than resume in f32.
    func testThePrecisionDefaultsToBFloat16WhereTheCPUHasItAndAResumeKeepsIt() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let run = root.appendingPathComponent("run")
        let r = try BinaryRunner.run(try trainArguments(run, extra: ["--steps", "1"]))
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let expected = Engine.hasBFloat16 ? "bf16" : "f32"
        let config = run.appendingPathComponent("config.json")
        XCTAssertTrue(try String(contentsOf: config, encoding: .utf8).contains("\"computePrecision\" : \"\(expected)\""))
        XCTAssertEqual(r.stdout.contains("bf16 convolutions: this CPU has AVX512-BF16"), Engine.hasBFloat16, r.stdout)
        let resumed = try BinaryRunner.run(["train", "--resume", run.path, "--steps", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        XCTAssertTrue(try String(contentsOf: config, encoding: .utf8).contains("\"computePrecision\" : \"\(expected)\""))
        XCTAssertFalse(resumed.stdout.contains("bf16 convolutions: this CPU"), "a resume re-chose its precision: \(resumed.stdout)")
        guard Engine.hasBFloat16 else { return }
        // On a CPU without bf16 kernels (oneDNN held to AVX2), the bf16 run is not resumed in f32.
        let elsewhere = try BinaryRunner.run(["train", "--resume", run.path, "--steps", "3"], environment: ["DNNL_MAX_CPU_ISA": "AVX2"])
        XCTAssertNotEqual(elsewhere.status, 0, elsewhere.stdout)
        XCTAssertTrue(elsewhere.stderr.contains("records bf16 convolutions, and this CPU has no AVX512-BF16"), elsewhere.stderr)
    }

    /// Flags that change the maths are refused on resume, each difference listed; the same flags
    /// retyped, and flags that cannot change the result, are accepted.
    func testResumeRefusesFlagsThatDifferFromTheRecordedRun() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let run = root.appendingPathComponent("run")
        XCTAssertEqual(try BinaryRunner.run(try trainArguments(run, extra: ["--steps", "1"])).status, 0)
        let r = try BinaryRunner.run(["train", "--resume", run.path, "--hidden", "32", "--lr", "0.02", "--steps", "2"])
        XCTAssertEqual(r.status, 64, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("model.head.hidden: recorded 16, given 32"), r.stderr)
        XCTAssertTrue(r.stderr.contains("training.learningRate: recorded 0.01"), r.stderr)
        XCTAssertFalse(r.stderr.contains("steps"), "--steps cannot change the maths: \(r.stderr)")
        // The original flags (minus --out) retyped, plus free ones: accepted.
        var same = try trainArguments(run, extra: ["--resume", run.path, "--steps", "2", "--log-every", "1", "--loader-threads", "2"])
        same.removeSubrange(same.firstIndex(of: "--out")!...(same.firstIndex(of: "--out")! + 1))
        let ok = try BinaryRunner.run(same)
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertTrue(ok.stdout.contains("resumed from"), ok.stdout)
        XCTAssertTrue(ok.stdout.contains("step 2/2"), ok.stdout)
    }

    /// `--epochs` above the recorded count extends the run, saying what happens to the schedule;
    /// below it, it is refused.
    func testResumeExtendsARunWithMoreEpochsAndRefusesFewer() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let run = root.appendingPathComponent("run")
        XCTAssertEqual(try BinaryRunner.run(try trainArguments(run, extra: [])).status, 0)
        let fewer = try BinaryRunner.run(["train", "--resume", run.path, "--epochs", "1"])
        XCTAssertEqual(fewer.status, 64, fewer.stderr)
        XCTAssertTrue(fewer.stderr.contains("--epochs may only grow"), fewer.stderr)
        let more = try BinaryRunner.run(["train", "--resume", run.path, "--epochs", "3"])
        XCTAssertEqual(more.status, 0, more.stdout + more.stderr)
        XCTAssertTrue(more.stdout.contains("extending the run from 2 to 3 epochs"), more.stdout)
        XCTAssertTrue(more.stdout.contains("epoch   3"), more.stdout)
        let record = try String(contentsOf: run.appendingPathComponent("config.json"), encoding: .utf8)
        XCTAssertTrue(record.contains("\"epochs\" : 3"), record)
    }

    func testResumeRefusesACheckpointOfAnotherDataset() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "12", "--size", "64"]).status, 0)
        let labels = cards.appendingPathComponent("labels.csv")
        let run = root.appendingPathComponent("run").path
        let args = ["train", "--data", labels.path, "--alpha", "0.25", "--input-size", "96", "--hidden", "8",
                    "--batch-size", "4", "--out", run]
        XCTAssertEqual(try BinaryRunner.run(args + ["--steps", "1"]).status, 0)
        // Move one label by a pixel: a different dataset as far as the checkpoint is concerned.
        var text = try String(contentsOf: labels, encoding: .utf8)
        text = text.replacingOccurrences(of: ",2\n", with: ",1\n", options: [], range: text.range(of: ",2\n"))
        try text.write(to: labels, atomically: true, encoding: .utf8)
        let r = try BinaryRunner.run(["train", "--resume", run])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("different dataset"), r.stderr)
    }

    /// Data copied without keeping file times (`cp` without `-p`, rsync without `-t`, a new host)
    /// is the same dataset: the run resumes, its images read once more for the fingerprint.
    func testResumeAcceptsTheSameDataWithNewFileTimes() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "12", "--size", "64"]).status, 0)
        let run = root.appendingPathComponent("run").path
        let first = try BinaryRunner.run(["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25",
                                          "--input-size", "96", "--batch-size", "4", "--epochs", "2", "--steps", "2", "--out", run])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("dataset fingerprint: read and hashed 12 image(s)"), first.stdout)
        let images = cards.appendingPathComponent("images")
        for name in try FileManager.default.contentsOfDirectory(atPath: images.path) {
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(3600)],
                                                  ofItemAtPath: images.appendingPathComponent(name).path)
        }
        let r = try BinaryRunner.run(["train", "--resume", run])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("resumed from"), r.stdout)
        XCTAssertTrue(r.stdout.contains("dataset fingerprint: read and hashed 12 image(s)"), r.stdout)
        // Unchanged files come from the run's cache: nothing is read.
        let again = try BinaryRunner.run(["train", "--resume", run, "--epochs", "3", "--steps", "7"])
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssertFalse(again.stdout.contains("dataset fingerprint: read"), again.stdout)
    }
}

final class SignalAndShardTests: XCTestCase {
    func testSIGTERMCheckpointsAtAStepBoundaryAndResumeContinues() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "24", "--size", "64"]).status, 0)
        let run = root.appendingPathComponent("run"), checkpoints = run.appendingPathComponent("checkpoints")
        let args = ["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25", "--input-size", "96",
                    "--hidden", "8", "--batch-size", "4", "--micro-batch", "2", "--epochs", "200", "--workers", "1",
                    "--out", run.path]
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
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("last/model.safetensors").path),
                      "the stopped run's model is in last/")
        let resumed = try BinaryRunner.run(["train", "--resume", run.path, "--steps", "1"])
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
                                      "--micro-batch", "4", "--epochs", "3", "--workers", "1",
                                      "--out", root.appendingPathComponent("run").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let sent = r.stdout.split(separator: "\n").filter { $0.contains("image(s)") && $0.contains("to workers") }
        guard sent.count == 3 else { return XCTFail("\(sent.count) epoch lines, not 3: \(r.stdout)") }
        // The split holds out about 20% by hashed path; every training image goes out once, in epoch 1.
        let trainCount = r.stdout.components(separatedBy: " train / ")[0].components(separatedBy: " ").last ?? "?"
        XCTAssertTrue(sent[0].contains("epoch 1: sent \(trainCount) image(s)"), "\(sent[0]) vs \(trainCount) training images")
        XCTAssertTrue(sent[1].contains("epoch 2: sent 0 image(s)"), String(sent[1]))
        XCTAssertTrue(sent[2].contains("epoch 3: sent 0 image(s)"), String(sent[2]))
    }
}
