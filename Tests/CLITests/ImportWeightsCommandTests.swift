// End-to-end tests of `keypoints import-weights` and `train --init-from`: a Keras .h5 file from the
// Interop fixtures becomes a backbone folder; training from it with the backbone frozen keeps every
// imported tensor (weights and BN statistics) exactly; foreign files and mismatched widths are refused.
import Compute
import Foundation
import Model
import XCTest
import ModelFiles

final class ImportWeightsCommandTests: XCTestCase {
    private func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("InteropTests/Fixtures/\(name)").path
    }

    private func tensors(_ folder: URL) throws -> [String: NamedTensor] {
        let url = folder.appendingPathComponent(SavedModel.weightsFile)
        return try SafeTensors.decode(Data(contentsOf: url), source: url.path).tensors
    }

    func testImportThenTrainWithFrozenBackboneKeepsTheImportedTensors() throws {
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let backbone = dir.appendingPathComponent("backbone"), model = dir.appendingPathComponent("model")
        let imported = try BinaryRunner.run(["import-weights", "keras", fixture("mobilenet_0_25_96_keras2.h5"), "--out", backbone.path])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        XCTAssertTrue(imported.stdout.contains("imported MobileNet alpha 0.25"), imported.stdout)

        let synth = try BinaryRunner.run(["synth", "--out", dir.appendingPathComponent("cards").path, "--count", "24", "--size", "64"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        // No --alpha: it comes from the backbone.
        let r = try BinaryRunner.run(["train", "--data", dir.appendingPathComponent("cards/labels.csv").path,
                                      "--init-from", backbone.path, "--freeze-backbone-epochs", "1", "--head", "regression",
                                      "--input-size", "96", "--hidden", "32", "--epochs", "1", "--batch-size", "8",
                                      "--out", model.path])
        XCTAssertEqual(r.status, 0, "stderr: \(r.stderr)")
        XCTAssertTrue(r.stdout.contains("backbone weights and BN statistics from"), r.stdout)
        XCTAssertTrue(r.stdout.contains("alpha 0.25"), r.stdout)

        let before = try tensors(backbone), after = try tensors(model.appendingPathComponent("last"))
        XCTAssertEqual(before.count, 27 * 5)
        for (name, t) in before { XCTAssertEqual(after[name], t, name) }
        XCTAssertNotNil(after["head.out.weight"])

        // The default heatmap head uses blocks 1-11 of the same backbone, frozen alike.
        let heatmap = dir.appendingPathComponent("heatmap")
        let h = try BinaryRunner.run(["train", "--data", dir.appendingPathComponent("cards/labels.csv").path,
                                      "--init-from", backbone.path, "--freeze-backbone-epochs", "1",
                                      "--input-size", "96", "--epochs", "1", "--batch-size", "8", "--out", heatmap.path])
        XCTAssertEqual(h.status, 0, "stderr: \(h.stderr)")
        let stride16 = try tensors(heatmap.appendingPathComponent("last"))
        XCTAssertEqual(stride16.keys.filter { $0.hasPrefix("backbone.") }.count, 23 * 5)
        for (name, t) in stride16 where name.hasPrefix("backbone.") { XCTAssertEqual(before[name], t, name) }
        XCTAssertNotNil(stride16["head.maps.weight"])

        let describe = try BinaryRunner.run(["describe", "--model", backbone.path])
        XCTAssertEqual(describe.status, 0, describe.stderr)
        XCTAssertTrue(describe.stdout.contains("backbone only, alpha 0.25"), describe.stdout)

        let evaluate = try BinaryRunner.run(["evaluate", "--model", backbone.path,
                                             "--data", dir.appendingPathComponent("cards/labels.csv").path])
        XCTAssertNotEqual(evaluate.status, 0)
        XCTAssertTrue(evaluate.stderr.contains("holds only a MobileNet backbone"), evaluate.stderr)

        let wrongAlpha = try BinaryRunner.run(["train", "--data", dir.appendingPathComponent("cards/labels.csv").path,
                                               "--init-from", backbone.path, "--alpha", "0.5", "--input-size", "96"])
        XCTAssertEqual(wrongAlpha.status, 64, wrongAlpha.stderr)
        XCTAssertTrue(wrongAlpha.stderr.contains("--alpha 0.5 does not match"), wrongAlpha.stderr)
    }

    func testForeignFilesAreRefusedNamingTheFileAndLayer() throws {
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("backbone").path
        let missing = try BinaryRunner.run(["import-weights", "keras", fixture("truncated.h5"), "--out", out])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("truncated.h5 has no weights for layer conv_dw_1"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing is written for a refused file")

        let text = try BinaryRunner.run(["import-weights", "keras", #filePath, "--out", out])
        XCTAssertEqual(text.status, 1)
        XCTAssertTrue(text.stderr.contains("is not an HDF5 file"), text.stderr)

        let framework = try BinaryRunner.run(["import-weights", "pytorch", fixture("truncated.h5"), "--out", out])
        XCTAssertEqual(framework.status, 64)
        XCTAssertTrue(framework.stderr.contains("unknown framework pytorch"), framework.stderr)
    }

    /// Randomly damaged files (bytes overwritten anywhere, or cut short) are refused with an error
    /// naming the file, never a crash: some of these make libhdf5 ask for tens of GiB, which the
    /// command's address-space cap turns into an error (without it the OOM killer ended the process).
    func testDamagedFilesAreRefusedCleanly() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture("bad_shape.h5"))))
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var generator = SplitMix64(seed: 11)
        for trial in 0..<60 {
            var bytes = original
            if trial % 10 == 0 {
                bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count))))
            } else {
                for _ in 0..<(1 + generator.next() % 16) {
                    bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
                }
            }
            let file = dir.appendingPathComponent("damaged-\(trial).h5")
            try Data(bytes).write(to: file)
            // bad_shape.h5 is refused even intact; damaged, it must still be refused cleanly.
            let r = try BinaryRunner.run(["import-weights", "keras", file.path, "--out", dir.appendingPathComponent("out").path])
            XCTAssertEqual(r.status, 1, "trial \(trial): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(file.path), "trial \(trial): \(r.stderr)")
        }
    }
}
