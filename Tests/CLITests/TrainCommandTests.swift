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
                                      "--batch-size", "8", "--out", out.path])
        XCTAssertEqual(r.status, 0, "stderr: \(r.stderr)")
        XCTAssertTrue(r.stdout.contains("epoch   2"), r.stdout)
        XCTAssertTrue(r.stdout.contains("final validation: loss"), r.stdout)
        XCTAssertTrue(r.stdout.contains("mean-shape baseline"), r.stdout)
        let manifest = try String(contentsOf: out.appendingPathComponent("model.json"), encoding: .utf8)
        XCTAssertTrue(manifest.contains("\"inputSize\" : 96"), manifest)
        XCTAssertTrue(manifest.contains("top_left"), manifest)
        let weights = try Data(contentsOf: out.appendingPathComponent("model.safetensors"))
        XCTAssertGreaterThan(weights.count, 100_000)
    }

    func testUnsupportedAlphaIsAClearUsageError() throws {
        let r = try BinaryRunner.run(["train", "--data", "x.csv", "--alpha", "0.3"])
        XCTAssertEqual(r.status, 64, "usage errors exit with EX_USAGE")
        XCTAssertTrue(r.stderr.contains("alpha 0.3 is not supported"), r.stderr)
        XCTAssertTrue(r.stderr.contains("0.25, 0.5, 0.75, 1.0"), r.stderr)
    }

    func testUnknownLossIsRejectedWithTheChoices() throws {
        let r = try BinaryRunner.run(["train", "--data", "x.csv", "--alpha", "0.25", "--input-size", "96", "--loss", "softmax"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("mse, l1, smooth-l1 or wing"), r.stderr)
    }

    func testBenchPrintsJSONFigures() throws {
        let r = try BinaryRunner.run(["bench", "--alpha", "0.25", "--input-size", "96", "--batch", "2",
                                      "--warmup", "0", "--steps", "1", "--profile"])
        XCTAssertEqual(r.status, 0, "stderr: \(r.stderr)")
        let lines = r.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }
        XCTAssertEqual(lines.count, 6, r.stdout)   // train; infer and infer_folded at batch 1 and 2; data
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        XCTAssertEqual(first?["bench"] as? String, "keypoints_train")
        XCTAssertGreaterThan(first?["img_s_median"] as? Double ?? 0, 0)
        XCTAssertTrue(r.stdout.contains("1x1 convolution"), r.stdout)
    }
}
