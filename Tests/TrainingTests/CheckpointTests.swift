// Checkpoints on their own: round trip of every piece of state, and a write that fails for lack
// of space leaves the previous checkpoint intact and no temporary file behind.
import Training
import Data
import Foundation
import Model
import TestSupport
import XCTest

final class CheckpointTests: XCTestCase {
    private func makeTrainer() throws -> (Trainer, RunConfig) {
        let model = ModelConfig(backbone: MobileNetV1Config(alpha: 0.25, inputSize: 96), head: HeadConfig(hidden: 8),
                                keypoints: 4)
        let network = try KeypointNetwork(model)
        Initializer.he.initialise(network.store, seed: 1)
        let trainer = Trainer(network: network, config: TrainingConfig())
        let config = RunConfig(model: model, training: TrainingConfig(),
                               description: DatasetDescription(keypointNames: model.keypointNames),
                               resize: .letterbox, augmentation: .none, microBatch: 4)
        return (trainer, config)
    }

    func testRoundTripRestoresWeightsStatisticsOptimizerAndStep() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, config) = try makeTrainer()
        a.network.store.statistics.base[3] = 0.25
        a.optimizer.moment1.base[7] = 0.5
        a.optimizer.moment2.base[11] = 0.125
        a.optimizer.steps[2] = 17
        a.step = 42
        try Checkpoint.write(trainer: a, config: config, fingerprint: "abc", to: dir, keep: 2)
        let (b, _) = try makeTrainer()
        let contents = try XCTUnwrap(Checkpoint.newestValid(in: dir, log: { _ in }))
        try Checkpoint.restore(contents, into: b, config: config, fingerprint: "abc")
        XCTAssertEqual(b.network.store.parameters.array, a.network.store.parameters.array)
        XCTAssertEqual(b.network.store.statistics.array, a.network.store.statistics.array)
        XCTAssertEqual(b.optimizer.moment1.array, a.optimizer.moment1.array)
        XCTAssertEqual(b.optimizer.moment2.array, a.optimizer.moment2.array)
        XCTAssertEqual(b.optimizer.steps, a.optimizer.steps)
        XCTAssertEqual(b.step, 42)
        XCTAssertThrowsError(try Checkpoint.restore(contents, into: b, config: config, fingerprint: "other")) {
            XCTAssertTrue("\($0)".contains("different dataset"), "\($0)")
        }
        // Keep the newest 2.
        for s in [43, 44, 45] { a.step = s; try Checkpoint.write(trainer: a, config: config, fingerprint: "abc", to: dir, keep: 2) }
        XCTAssertEqual(Checkpoint.list(dir).map(\.lastPathComponent), [Checkpoint.fileName(step: 44), Checkpoint.fileName(step: 45)])
    }

    func testAFailedWriteForLackOfSpaceKeepsThePreviousCheckpoint() throws {
        let (trainer, config) = try makeTrainer()
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("probe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: probe) }
        let bytes = try FileManager.default.attributesOfItem(
            atPath: try Checkpoint.write(trainer: trainer, config: config, fingerprint: "f", to: probe, keep: 3))[.size] as! Int
        let disk = try SmallDisk(bytes: bytes * 3 / 2)  // room for one checkpoint and a half
        let dir = disk.url
        trainer.step = 1
        try Checkpoint.write(trainer: trainer, config: config, fingerprint: "f", to: dir, keep: 3)
        trainer.step = 2
        XCTAssertThrowsError(try Checkpoint.write(trainer: trainer, config: config, fingerprint: "f", to: dir, keep: 3)) {
            XCTAssertTrue("\($0)".contains("No space left") && "\($0)".contains("previous version is untouched"), "\($0)")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(files, [Checkpoint.fileName(step: 1)], "only the good checkpoint may remain")
        XCTAssertEqual(Checkpoint.newestValid(in: dir, log: { _ in })?.step, 1)
    }

    /// The checksum covers the whole file: one flipped bit in the metadata (the step, which the
    /// tensors' checksum of v2 did not cover) or in the tensor data makes the checkpoint fail
    /// verification, and the newest intact one is used instead.
    func testAFlippedBitInTheMetadataOrInTheTensorsIsDetectedAndSkipped() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (trainer, config) = try makeTrainer()
        for step in [1, 2] { trainer.step = step; try Checkpoint.write(trainer: trainer, config: config, fingerprint: "f", to: dir, keep: 3) }
        let newest = dir.appendingPathComponent(Checkpoint.fileName(step: 2))
        let good = try Foundation.Data(contentsOf: newest)
        let stepField = try XCTUnwrap(good.firstRange(of: Array("\"step\":\"2\"".utf8)))
        let dataStart = 8 + Int(good.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        for (what, offset, bit) in [("metadata", stepField.upperBound - 2, UInt8(1)), ("tensors", dataStart + 1234, UInt8(16))] {
            var bad = good
            bad[offset] ^= bit
            try bad.write(to: newest)
            var lines: [String] = []
            XCTAssertEqual(Checkpoint.newestValid(in: dir, log: { lines.append($0) })?.step, 1, what)
            XCTAssertEqual(lines.count, 1, what)
            XCTAssertTrue(lines.first?.contains("checksum mismatch") ?? false, "\(what): \(lines)")
        }
        try good.write(to: newest)
        XCTAssertEqual(Checkpoint.newestValid(in: dir, log: { _ in })?.step, 2)
    }
}
