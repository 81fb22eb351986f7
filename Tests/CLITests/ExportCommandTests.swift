// `keypoints export --format onnx` end to end: a trained model's ONNX file passes the ONNX checker
// and ONNX Runtime reproduces our predictions on the exported samples (scripts/check-onnx.py);
// bad input gives clear errors.
import Foundation
import TestSupport
import XCTest

final class ExportCommandTests: XCTestCase {
    func testExportedONNXReproducesOurPredictionsInONNXRuntime() throws {
        try exportAndCheck(head: ["--head", "regression", "--hidden", "8"])
    }

    /// The heatmap head's graph (1x1 maps, bilinear x2 as two MatMuls, Softmax, expectation) in ONNX Runtime.
    func testExportedHeatmapHeadReproducesOurPredictionsInONNXRuntime() throws {
        try exportAndCheck(head: ["--head", "heatmap", "--heatmap-upsample", "2", "--distribution-weight", "0.1"])
    }

    /// The SimCC head's graph (1x1 maps, flatten, bins, per-axis Softmax, expectation) in ONNX Runtime.
    func testExportedSimCCHeadReproducesOurPredictionsInONNXRuntime() throws {
        try exportAndCheck(head: ["--head", "simcc", "--simcc-split", "1", "--distribution-weight", "0.1"])
    }

    private func exportAndCheck(head: [String]) throws {
        _ = try PythonScripts.interpreter()  // skips, saying how to get the Python tools, when absent
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards"), model = root.appendingPathComponent("model")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "12", "--size", "80"]).status, 0)
        // 90 real steps: BN running statistics move well away from their initial (0, 1), so the
        // features and outputs vary enough across images for a wrong graph to show (see --min-spread).
        let train = try BinaryRunner.run(["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25",
                                          "--input-size", "96", "--epochs", "30", "--batch-size", "4",
                                          "--lr", "0.01", "--out", model.path] + head)
        XCTAssertEqual(train.status, 0, train.stderr)

        let onnx = root.appendingPathComponent("cards.onnx")
        let export = try BinaryRunner.run(["export", "--model", model.path, "--format", "onnx", "--out", onnx.path,
                                           "--samples", "4"])
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertTrue(export.stdout.contains("[N, 3, 96, 96]") && export.stdout.contains("[N, 8]"), export.stdout)
        let samples = root.appendingPathComponent("cards.samples.safetensors")
        XCTAssertTrue(FileManager.default.fileExists(atPath: samples.path), "--samples writes \(samples.lastPathComponent)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.contains("tmp") || $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "the atomic write leaves no temporary file behind")

        let check = try PythonScripts.run("check-onnx.py", [onnx.path, samples.path, "--tolerance", "1e-4", "--min-spread", "1e-3"])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.contains("check-onnx: OK"), check.output)
        XCTAssertTrue(check.output.contains("one at a time"), check.output)
    }

    func testMissingModelFolderIsNamed() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let missing = root.appendingPathComponent("no-such-model").path
        let r = try BinaryRunner.run(["export", "--model", missing, "--out", root.appendingPathComponent("m.onnx").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains(missing) && r.stderr.contains("does not exist"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("m.onnx").path))
    }

    func testFolderWithoutAModelIsNamed() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let r = try BinaryRunner.run(["export", "--model", root.path, "--out", root.appendingPathComponent("m.onnx").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains(root.appendingPathComponent("model.json").path), r.stderr)
    }

    func testUnknownFormatIsAUsageError() throws {
        let r = try BinaryRunner.run(["export", "--model", "m", "--format", "tflite", "--out", "m.tflite"])
        XCTAssertEqual(r.status, 64, "usage errors exit with EX_USAGE")
        XCTAssertTrue(r.stderr.contains("unknown --format tflite; use onnx"), r.stderr)
    }

    func testUnwritableOutputPathIsNamed() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        // A folder that is a file: fails for root too (permission bits would not).
        let file = root.appendingPathComponent("plain-file")
        try Data("x".utf8).write(to: file)
        let out = file.appendingPathComponent("m.onnx").path
        let r = try BinaryRunner.run(["export", "--model", root.path, "--out", out])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("cannot write \(out)"), r.stderr)
    }
}
