// End-to-end tests of bad input and the data commands: clear errors naming file and line before
// training starts, --skip-bad, synth and augment-preview.
import Foundation
import XCTest

final class DataCommandTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = try BinaryRunner.temporaryDirectory()
        let r = try BinaryRunner.run(["synth", "--out", root.appendingPathComponent("cards").path, "--count", "12", "--size", "64"])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private var labels: URL { root.appendingPathComponent("cards/labels.csv") }

    /// Replaces line `n` (1-based) of the labels file.
    private func editLine(_ n: Int, _ change: (String) -> String) throws {
        var lines = try String(contentsOf: labels, encoding: .utf8).components(separatedBy: "\n")
        lines[n - 1] = change(lines[n - 1])
        try lines.joined(separator: "\n").write(to: labels, atomically: true, encoding: .utf8)
    }

    private func train(_ extra: [String] = []) throws -> RunResult {
        try BinaryRunner.run(["train", "--data", labels.path, "--alpha", "0.25", "--input-size", "96", "--hidden", "8",
                              "--epochs", "1", "--batch-size", "4", "--out", root.appendingPathComponent("run").path] + extra)
    }

    func testSynthWritesImagesLabelsAndDescription() throws {
        let csv = try String(contentsOf: labels, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 13)
        XCTAssertTrue(csv[0].hasPrefix("image,top_left_x,top_left_y,top_left_v"), String(csv[0]))
        let images = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("cards/images").path)
        XCTAssertEqual(images.count, 12)
        let description = try String(contentsOf: root.appendingPathComponent("cards/labels.keypoints.json"), encoding: .utf8)
        XCTAssertTrue(description.contains("flip_pairs"), description)
    }

    func testNonNumericCoordinateStopsBeforeTrainingNamingFileAndLine() throws {
        try editLine(4) { line in
            var cells = line.components(separatedBy: ",")
            cells[1] = "twelve"
            return cells.joined(separator: ",")
        }
        let r = try train()
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("labels.csv:4"), r.stderr)
        XCTAssertFalse(r.stdout.contains("epoch"), "no training may start on bad input")
    }

    func testMissingAndCorruptImagesAreNamedAndSkippedWithSkipBad() throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent("cards/images/000002.jpg"))
        let corrupt = root.appendingPathComponent("cards/images/000005.jpg")
        let bytes = try Foundation.Data(contentsOf: corrupt)
        try bytes.prefix(40).write(to: corrupt)
        let r = try train()
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("000002.jpg") && r.stderr.contains("does not exist"), r.stderr)

        let skipping = try train(["--skip-bad"])
        XCTAssertEqual(skipping.status, 0, skipping.stderr)
        XCTAssertTrue(skipping.stdout.contains("skipped 2 bad sample(s)"), skipping.stdout)
        XCTAssertTrue(skipping.stdout.contains("000005.jpg"), skipping.stdout)
        XCTAssertTrue(skipping.stdout.contains("final validation"), skipping.stdout)
    }

    func testKeypointFarOutsideTheImageIsReported() throws {
        try editLine(3) { line in
            var cells = line.components(separatedBy: ",")
            cells[1] = "5000"
            return cells.joined(separator: ",")
        }
        let r = try train()
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("labels.csv:3") && r.stderr.contains("far outside"), r.stderr)
    }

    func testFlipWithoutDeclaredPairsIsRefused() throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent("cards/labels.keypoints.json"))
        let r = try train(["--flip", "0.5"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("flip_pairs"), r.stderr)
    }

    func testAugmentPreviewWritesAGridWithKeypointColours() throws {
        let out = root.appendingPathComponent("preview.png")
        let r = try BinaryRunner.run(["augment-preview", "--data", labels.path, "--input-size", "96", "--count", "4",
                                      "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let png = try Foundation.Data(contentsOf: out)
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        // IHDR width and height: 2 columns x (96 + 4) + 4 = 204 square.
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(width, 204)
        XCTAssertEqual(height, 204)
    }
}

final class NumericalFaultTests: XCTestCase {
    func testNaNStepsAreSkippedThenTrainingStopsWithACheckpointOfTheLastGoodWeights() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "12", "--size", "64"]).status, 0)
        // An absurd learning rate blows the weights up after the first step. (The regression head:
        // the heatmap head's softmax and bounded soft-argmax stay finite even then.)
        let r = try BinaryRunner.run(["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25",
                                      "--input-size", "96", "--head", "regression", "--hidden", "8", "--batch-size", "2", "--epochs", "20",
                                      "--lr", "1e30", "--schedule", "constant",
                                      "--out", root.appendingPathComponent("run").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("skipped: the loss is") || r.stdout.contains("skipped: a gradient"), r.stdout)
        XCTAssertTrue(r.stderr.contains("5 steps in a row") && r.stderr.contains("--lr"), r.stderr)
        XCTAssertTrue(r.stdout.contains("the last good weights; checkpoint: "), r.stdout)
    }
}
