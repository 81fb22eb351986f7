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
        guard getuid() == 0 else { throw Requirement.unavailable("mounting a small tmpfs needs root") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let (trainer, config) = try makeTrainer()
        let size = try Checkpoint.write(trainer: trainer, config: config, fingerprint: "f", to: dir, keep: 3)
        let bytes = try FileManager.default.attributesOfItem(atPath: size)[.size] as! Int
        try FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // Room for one checkpoint and a half.
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=\(bytes * 3 / 2)", "tmpfs", dir.path]
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { throw Requirement.unavailable("cannot mount a tmpfs here") }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [dir.path]
            try? umount.run()
            umount.waitUntilExit()
            try? FileManager.default.removeItem(at: dir)
        }
        trainer.step = 1
        try Checkpoint.write(trainer: trainer, config: config, fingerprint: "f", to: dir, keep: 3)
        trainer.step = 2
        XCTAssertThrowsError(try Checkpoint.write(trainer: trainer, config: config, fingerprint: "f", to: dir, keep: 3)) {
            XCTAssertTrue("\($0)".contains("previous checkpoint is untouched"), "\($0)")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(files, [Checkpoint.fileName(step: 1)], "only the good checkpoint may remain")
        XCTAssertEqual(Checkpoint.newestValid(in: dir, log: { _ in })?.step, 1)
    }
}
