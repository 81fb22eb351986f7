// The run folder's rules without the binary: a fresh run never lands on another run or on user
// files, --overwrite removes only a run's own files, `--model` paths resolve to best/ then last/,
// the split reads back as labels, the metrics log drops replayed steps on resume, and refused
// resumes name each differing setting.
import Data
import Foundation
import Model
import TestSupport
import Training
import XCTest
import ModelFiles

final class RunFolderTests: XCTestCase {
    private var root: URL!
    override func setUpWithError() throws { root = try temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func record(_ run: RunFolder) throws {
        try run.write(RunRecord(tool: "keypoints test", commandLine: ["keypoints", "train"], arguments: ["--data", "x.csv"],
                                config: tinyRunConfig(epochs: 1, batchSize: 2, microBatch: 1), fingerprint: "f",
                                trainImages: 2, validationImages: 1))
    }

    func testFreshRunRefusesARunAndUserFilesAndOverwriteRemovesOnlyTheRunsFiles() throws {
        let url = root.appendingPathComponent("run")
        let run = try RunFolder.fresh(at: url, overwrite: false)
        try record(run)
        try FileManager.default.createDirectory(at: run.best, withIntermediateDirectories: true)
        try Foundation.Data("mine".utf8).write(to: url.appendingPathComponent("notes.txt"))
        XCTAssertThrowsError(try RunFolder.fresh(at: url, overwrite: false)) {
            XCTAssertTrue("\($0)".contains("already holds a run") && "\($0)".contains("--resume \(run.url.path)"), "\($0)")
        }
        _ = try RunFolder.fresh(at: url, overwrite: true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.best.path))
        XCTAssertFalse(RunFolder.holdsRun(url))
        XCTAssertTrue(FileManager.default.fileExists(atPath: url.appendingPathComponent("notes.txt").path), "a user file was removed")
        XCTAssertThrowsError(try RunFolder.fresh(at: url, overwrite: true)) {
            XCTAssertTrue("\($0)".contains("holds no keypoints run"), "\($0)")
        }
        XCTAssertThrowsError(try RunFolder.existing(at: url)) { XCTAssertTrue("\($0)".contains("no config.json"), "\($0)") }
    }

    func testModelPathsResolveToBestThenLastAndKnowTheirRun() throws {
        let run = try RunFolder.fresh(at: root.appendingPathComponent("run"), overwrite: false)
        try record(run)
        XCTAssertThrowsError(try RunFolder.model(at: run.url.path)) { XCTAssertTrue("\($0)".contains("no best/ or last/"), "\($0)") }
        let network = try KeypointNetwork(tinyRunConfig(epochs: 1, batchSize: 2, microBatch: 1).model)
        try SavedModel.save(network, to: run.last)
        XCTAssertEqual(try RunFolder.model(at: run.url.path).model.path, run.last.path)
        try SavedModel.save(network, to: run.best)
        let (model, owner) = try RunFolder.model(at: run.url.path)
        XCTAssertEqual(model.path, run.best.path)
        XCTAssertEqual(owner?.url.path, run.url.path)
        XCTAssertEqual(try RunFolder.model(at: run.last.path).run?.url.path, run.url.path, "a model inside a run knows its run")
        XCTAssertNil(try RunFolder.model(at: root.path).run)
    }

    func testSplitReadsBackAsLabelsWithTheDescription() throws {
        let run = try RunFolder.fresh(at: root.appendingPathComponent("run"), overwrite: false)
        var cards = try cardsDataset(count: 3)
        // Real files for the labels to point at (the split names them relative to split/).
        for (i, record) in cards.labels.records.enumerated() {
            let path = root.appendingPathComponent(record.imagePath).path
            try cards.images[i].write(to: URL(fileURLWithPath: path))
            cards.labels.records[i].imagePath = path
        }
        cards.labels.description.flipPairs = [[0, 1], [2, 3]]
        cards.labels.description.flipPairsDeclared = true
        try run.writeSplit(train: cards.subset([0, 2]), validation: cards.subset([1]))
        let train = try KeypointDataset.load(labels: run.trainSplit.path), val = try KeypointDataset.load(labels: run.validationSplit.path)
        XCTAssertEqual(train.labels.records.map(\.imagePath), [0, 2].map { cards.labels.records[$0].imagePath })
        XCTAssertEqual(train.labels.records.map(\.keypoints), [0, 2].map { cards.labels.records[$0].keypoints })
        XCTAssertEqual(val.labels.records.map(\.imagePath), [cards.labels.records[1].imagePath])
        XCTAssertEqual(train.description, cards.description)
        XCTAssertEqual(try run.trainingImages(), Set(train.labels.records.map(\.imagePath)))
    }

    /// One epoch of 3 steps logged, the run resumed at step 2: step 3's line and the epoch end go,
    /// so that the replayed step is logged once.
    func testMetricsLogDropsTheLinesOfStepsThatRunAgain() throws {
        let cards = try cardsDataset(count: 6)
        let train = cards.subset(Array(0..<5)), validation = cards.subset([5])
        let config = tinyRunConfig(epochs: 1, batchSize: 2, microBatch: 2)
        let url = root.appendingPathComponent("metrics.jsonl")
        let engine = try localEngine(config, train: train, validation: validation)
        engine.observers = [try MetricsLog(url: url)]
        try engine.run()
        func lines() throws -> [String] { try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init) }
        XCTAssertEqual(try lines().count, 4, "3 steps and an epoch end")
        _ = try MetricsLog(url: url, resumedAt: 2)
        let kept = try lines()
        XCTAssertEqual(kept.count, 2)
        XCTAssertTrue(kept.allSatisfy { !$0.contains("epoch_end") && ($0.contains("\"step\":1") || $0.contains("\"step\":2")) }, "\(kept)")
    }

    /// The metrics log on a full disk: the run stops after the step whose line does not fit, with
    /// an error naming the log; the checkpointer still writes a checkpoint of that step elsewhere,
    /// and the log holds only whole lines.
    func testAFullDiskUnderTheMetricsLogStopsTheRunWithACheckpoint() throws {
        let cards = try cardsDataset(count: 6)
        let config = tinyRunConfig(epochs: 40, batchSize: 2, microBatch: 2)
        let disk = try SmallDisk(bytes: 1 << 20)
        let url = disk.url.appendingPathComponent("metrics.jsonl")
        let engine = try localEngine(config, train: cards)
        var lines: [String] = []
        engine.log = { lines.append($0) }
        /// Fills the disk after step 2; the log's last page still has room for a few lines.
        final class FillAfterStep: TrainingObserver {
            let disk: SmallDisk
            init(_ disk: SmallDisk) { self.disk = disk }
            func stepEnded(_ record: StepRecord, engine: TrainingEngine) throws { if record.stepsDone == 2 { try disk.fill(leaving: 0) } }
        }
        let checkpoints = root.appendingPathComponent("checkpoints")
        let policy = CheckpointPolicy(directory: checkpoints, every: 0, keep: 3, fingerprint: "f")
        engine.observers = [FillAfterStep(disk), try MetricsLog(url: url), Checkpointer(policy: policy, log: { lines.append($0) })]
        XCTAssertThrowsError(try engine.run()) {
            XCTAssertTrue("\($0)".contains("metrics log") && "\($0)".contains("No space left") && "\($0)".contains("resume"), "\($0)")
        }
        let stopped = engine.trainer.step
        XCTAssertLessThan(stopped, engine.totalSteps, "the run went on past the failure")
        XCTAssertTrue(lines.contains { $0.contains("stopping after step \(stopped)") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("after the failure above; checkpoint:") }, "\(lines)")
        XCTAssertEqual(Checkpoint.newestValid(in: checkpoints, log: { _ in })?.step, stopped)
        let logged = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(logged.hasSuffix("\n"), logged)
        let steps = try logged.split(separator: "\n").map { line -> Int in
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Foundation.Data(line.utf8)) as? [String: Any], String(line))
            return try XCTUnwrap(object["step"] as? Int)
        }
        XCTAssertEqual(steps.last, stopped - 1, "every line before the failed one is whole, and none after: \(logged)")
    }

    func testConfigurationDifferencesNameEachLeaf() {
        let a = tinyRunConfig(epochs: 2, batchSize: 4, microBatch: 2)
        var b = a
        b.training.learningRate = 0.02
        b.model.head.hidden = 32
        XCTAssertEqual(a.differences(from: b), ["model.head.hidden: recorded 8, given 32",
                                                "training.learningRate: recorded 0.01, given 0.02"])
        XCTAssertEqual(a.differences(from: a), [])
    }
}
