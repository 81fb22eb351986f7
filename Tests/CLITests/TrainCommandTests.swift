// End-to-end tests of `keypoints train` and `keypoints bench`: the built binary, real oneDNN kernels.
import Foundation
import XCTest

final class TrainCommandTests: XCTestCase {
    func testTrainSmallModelPrintsMetricsAndSavesModel() throws {
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("model")
        let synth = try BinaryRunner.run(["synth", "--out", dir.appendingPathComponent("cards").path, "--count", "24", "--size", "64"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let r = try BinaryRunner.run(["train", "--data", dir.appendingPathComponent("cards/labels.csv").path,
                                      "--alpha", "0.25", "--input-size", "96", "--hidden", "32", "--epochs", "2",
                                      "--batch-size", "8", "--out", out.path, "--normalize", "pair:top_left,bottom_right"])
        XCTAssertEqual(r.status, 0, "stderr: \(r.stderr)")
        XCTAssertTrue(r.stdout.contains("epoch   2"), r.stdout)
        // Each epoch's line: NME by the chosen normaliser, beside the mean shape's, with the ratio.
        let epochLine = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.contains("epoch   2  train loss") })
        XCTAssertTrue(epochLine.contains("by pair:1,3") && epochLine.contains("mean shape NME 0.") && epochLine.contains("x)"),
                      String(epochLine))
        let record = try String(contentsOf: out.appendingPathComponent("config.json"), encoding: .utf8)
        XCTAssertTrue(record.contains("\"normalize\" : \"pair:1,3\""), record)
        XCTAssertTrue(r.stdout.contains("final validation: loss"), r.stdout)
        XCTAssertTrue(r.stdout.contains("mean-shape baseline"), r.stdout)
        let manifest = try String(contentsOf: out.appendingPathComponent("last/model.json"), encoding: .utf8)
        XCTAssertTrue(manifest.contains("\"inputSize\" : 96"), manifest)
        XCTAssertTrue(manifest.contains("top_left"), manifest)
        let weights = try Data(contentsOf: out.appendingPathComponent("last/model.safetensors"))
        XCTAssertGreaterThan(weights.count, 100_000)
    }

    /// Without --input-size the input follows the images (64 px cards: 96, the smallest; 160 px:
    /// 128, the largest default); without --flip, flips are on where the description declares flip
    /// pairs (synth writes them) and off where it does not.
    func testInputSizeAndFlipDefaultsFollowTheData() throws {
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func train(_ cards: URL, _ name: String, _ extra: [String] = []) throws -> RunResult {
            try BinaryRunner.run(["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25",
                                  "--epochs", "1", "--batch-size", "8", "--steps", "1", "--out", dir.appendingPathComponent(name).path] + extra)
        }
        for (side, expected) in [(64, 96), (160, 128)] {
            let cards = dir.appendingPathComponent("cards-\(side)")
            XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "10", "--size", "\(side)"]).status, 0)
            let r = try train(cards, "run-\(side)")
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("input size \(expected) px, from the images' median longer side (\(side) px)"), r.stdout)
            XCTAssertTrue(r.stdout.contains("at \(expected)px"), r.stdout)
            XCTAssertTrue(r.stdout.contains("horizontal flips with probability 0.5"), r.stdout)
            let record = try String(contentsOf: dir.appendingPathComponent("run-\(side)/config.json"), encoding: .utf8)
            XCTAssertTrue(record.contains("\"flipProbability\" : 0.5"), record)
        }
        let cards = dir.appendingPathComponent("cards-64")
        try FileManager.default.removeItem(at: cards.appendingPathComponent("labels.keypoints.json"))
        let plain = try train(cards, "run-no-pairs", ["--input-size", "96"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertFalse(plain.stdout.contains("horizontal flips"), plain.stdout)
        XCTAssertFalse(plain.stdout.contains("input size 96 px, from"), "--input-size given: \(plain.stdout)")
        let record = try String(contentsOf: dir.appendingPathComponent("run-no-pairs/config.json"), encoding: .utf8)
        XCTAssertTrue(record.contains("\"flipProbability\" : 0"), record)
    }

    /// The run folder holds everything: both models, checkpoints, the metrics log (one line per
    /// step and per epoch end), the curves, the record and the exact split. A fresh run into it is
    /// refused unless --overwrite; a folder of other files is refused always.
    func testRunFolderHoldsEverythingAndIsNotReusedByAccident() throws {
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cards = dir.appendingPathComponent("cards"), run = dir.appendingPathComponent("run")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "20", "--size", "64"]).status, 0)
        let args = ["train", "--data", cards.appendingPathComponent("labels.csv").path, "--val-fraction", "0.25", "--alpha", "0.25",
                    "--input-size", "96", "--hidden", "8", "--epochs", "2", "--batch-size", "8", "--out", run.path]
        let r = try BinaryRunner.run(args)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let fm = FileManager.default
        for path in ["config.json", "split/train.csv", "split/val.csv", "split/dataset.json", "best/model.json",
                     "last/model.safetensors", "metrics.jsonl", "curves.svg"] {
            XCTAssertTrue(fm.fileExists(atPath: run.appendingPathComponent(path).path), "the run folder lacks \(path)")
        }
        XCTAssertFalse(try fm.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path).isEmpty)
        // The split: every labelled image exactly once, on one side.
        func images(_ file: String) throws -> [String] {
            try String(contentsOf: run.appendingPathComponent(file), encoding: .utf8).split(separator: "\n").dropFirst()
                .map { String($0.split(separator: ",")[0]) }
        }
        let train = try images("split/train.csv"), val = try images("split/val.csv")
        XCTAssertEqual(Set(train).intersection(val), [])
        XCTAssertEqual(train.count + val.count, 20)
        XCTAssertTrue(r.stdout.contains("\(train.count) train / \(val.count) val images"), r.stdout)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("config.json")))
                                   as? [String: Any])
        XCTAssertEqual(record["tool"] as? String, "keypoints 0.3.0")
        XCTAssertNotNil(record["fingerprint"] as? String)
        XCTAssertTrue((record["arguments"] as? [String])?.contains(cards.appendingPathComponent("labels.csv").path) ?? false,
                      "the data path is recorded absolute: \(record)")
        let steps = 2 * ((train.count + 7) / 8)
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.filter { !$0.contains("epoch_end") }.count, steps)
        XCTAssertEqual(lines.filter { $0.contains("epoch_end") }.count, 2)

        let again = try BinaryRunner.run(args)
        XCTAssertEqual(again.status, 1, again.stdout + again.stderr)
        XCTAssertTrue(again.stderr.contains("already holds a run") && again.stderr.contains("--resume"), again.stderr)
        let overwritten = try BinaryRunner.run(args + ["--overwrite", "--steps", "1"])
        XCTAssertEqual(overwritten.status, 0, overwritten.stdout + overwritten.stderr)
        XCTAssertFalse(fm.fileExists(atPath: run.appendingPathComponent("best").path), "--overwrite left the old best/")
        let other = dir.appendingPathComponent("other")
        try fm.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: other.appendingPathComponent("notes.txt"))
        let refused = try BinaryRunner.run(Array(args.dropLast()) + [other.path, "--overwrite"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("holds no keypoints run"), refused.stderr)
        XCTAssertTrue(fm.fileExists(atPath: other.appendingPathComponent("notes.txt").path))
    }

    /// Stopped after one epoch and resumed: best/ is replaced only by a better epoch, the history
    /// (curves) goes on, and the metrics log holds each step once.
    func testResumeKeepsBestHistoryAndMetricsWithoutDuplicates() throws {
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cards = dir.appendingPathComponent("cards"), run = dir.appendingPathComponent("run")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "16", "--size", "64"]).status, 0)
        let args = ["train", "--data", cards.appendingPathComponent("labels.csv").path, "--val-fraction", "0.25", "--alpha", "0.25",
                    "--input-size", "96", "--hidden", "8", "--epochs", "3", "--batch-size", "4", "--lr", "0.01",
                    "--checkpoint-every", "1", "--out", run.path]
        let straight = dir.appendingPathComponent("straight")
        XCTAssertEqual(try BinaryRunner.run(Array(args.dropLast()) + [straight.path]).status, 0)
        // Stop one step into epoch 2 (the newest checkpoint is mid-epoch), then resume.
        let first = try BinaryRunner.run(args + ["--steps", "4"])
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        let second = try BinaryRunner.run(["train", "--resume", run.path])
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        func text(_ r: URL, _ file: String) throws -> String { try String(contentsOf: r.appendingPathComponent(file), encoding: .utf8) }
        func withoutTimes(_ log: String) -> [String] {
            log.split(separator: "\n").map { line in
                String(line).replacingOccurrences(of: #""(images_per_s|step_s|compute_s|transfer_s|update_s)":[^,}]*"#,
                                                  with: "", options: .regularExpression)
            }
        }
        XCTAssertEqual(withoutTimes(try text(run, "metrics.jsonl")), withoutTimes(try text(straight, "metrics.jsonl")),
                       "the resumed run's metrics log differs from the uninterrupted one's")
        XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent("best/model.safetensors")),
                       try Data(contentsOf: straight.appendingPathComponent("best/model.safetensors")), "best/ differs")
        XCTAssertEqual(try text(run, "best/model.json"), try text(straight, "best/model.json"))
        XCTAssertEqual(try text(run, "curves.svg"), try text(straight, "curves.svg"), "the curves differ")
        XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent("last/model.safetensors")),
                       try Data(contentsOf: straight.appendingPathComponent("last/model.safetensors")))
    }

    func testUnsupportedAlphaIsAClearUsageError() throws {
        let r = try BinaryRunner.run(["train", "--data", "x.csv", "--alpha", "0.3"])
        XCTAssertEqual(r.status, 64, "usage errors exit with EX_USAGE")
        XCTAssertTrue(r.stderr.contains("alpha 0.3 is not supported"), r.stderr)
        XCTAssertTrue(r.stderr.contains("0.25, 0.5, 0.75, 1.0"), r.stderr)
    }

    func testUnknownNormaliserIsAUsageErrorNamingTheKeypoints() throws {
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", dir.appendingPathComponent("cards").path, "--count", "8",
                                             "--size", "64"]).status, 0)
        let r = try BinaryRunner.run(["train", "--data", dir.appendingPathComponent("cards/labels.csv").path, "--alpha", "0.25",
                                      "--input-size", "96", "--normalize", "pair:left_eye,right_eye",
                                      "--out", dir.appendingPathComponent("run").path])
        XCTAssertEqual(r.status, 64, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("top_left, top_right, bottom_right, bottom_left"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run").path), "a refused run made its folder")
    }

    func testUnknownLossIsRejectedWithTheChoices() throws {
        let r = try BinaryRunner.run(["train", "--data", "x.csv", "--alpha", "0.25", "--input-size", "96", "--loss", "softmax"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("mse, l1, smooth-l1 or wing"), r.stderr)
    }

    func testBenchPrintsJSONFigures() throws {
        let r = try BinaryRunner.run(["bench", "--alpha", "0.25", "--input-size", "96", "--batch", "2",
                                      "--warmup", "0", "--steps", "1", "--profile", "--bucket-mb", "0.1"])
        XCTAssertEqual(r.status, 0, "stderr: \(r.stderr)")
        let lines = r.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }
        XCTAssertEqual(lines.count, 7, r.stdout)   // train; buckets (--profile); infer and infer_folded at batch 1 and 2; data
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        XCTAssertEqual(first?["bench"] as? String, "keypoints_train")
        XCTAssertGreaterThan(first?["img_s_median"] as? Double ?? 0, 0)
        XCTAssertTrue(r.stdout.contains("1x1 convolution"), r.stdout)
        // When each bucket's weights are first needed and its gradient final (scripts/scaling-model.py reads it).
        let buckets = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        XCTAssertEqual(buckets["bench"] as? String, "keypoints_buckets")
        let bytes = buckets["bucket_bytes"] as? [Int] ?? [], needed = buckets["needed_s"] as? [Double] ?? []
        let ready = buckets["ready_s"] as? [Double] ?? [], compute = buckets["compute_s"] as? Double ?? 0
        XCTAssertEqual(bytes.reduce(0, +), 2 * 484_440, "bf16 frames of every parameter")
        XCTAssertEqual([needed.count, ready.count], [bytes.count, bytes.count])
        XCTAssertGreaterThanOrEqual(bytes.count, 4, "0.1 MiB buckets of 0.97 MB")
        XCTAssertEqual(needed, needed.sorted(), "the forward needs the buckets in order")
        XCTAssertEqual(ready.first, compute, "bucket 0 is final when the compute ends")
        XCTAssertTrue(ready.dropFirst().allSatisfy { $0 > (needed.last ?? 0) && $0 < compute }, "\(ready) against \(needed)")
    }
}
