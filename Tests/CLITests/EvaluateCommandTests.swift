// `predict` and `evaluate` end to end: predictions come back in each image's own pixels as a CSV
// that loads as labels, evaluating the model against its own predictions gives zero error, a run
// folder alone is evaluated on its held-out split, and its training images draw a warning.
import Data
import Foundation
import XCTest

final class EvaluateCommandTests: XCTestCase {
    func testPredictRoundTripsAsLabelsAndEvaluateReports() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards"), model = root.appendingPathComponent("run")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "12", "--size", "80"]).status, 0)
        let train = try BinaryRunner.run(["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25",
                                          "--input-size", "96", "--hidden", "8", "--epochs", "1", "--batch-size", "4",
                                          "--out", model.path])
        XCTAssertEqual(train.status, 0, train.stderr)

        // An unreadable file among the images is reported; the others are still predicted.
        try Foundation.Data("not an image".utf8).write(to: cards.appendingPathComponent("images/broken.png"))
        let predictions = cards.appendingPathComponent("predicted.csv")
        let p = try BinaryRunner.run(["predict", "--model", model.path, cards.appendingPathComponent("images").path,
                                      "--out", predictions.path])
        XCTAssertEqual(p.status, 1, "a failed image makes the exit code 1")
        XCTAssertTrue(p.stderr.contains("broken.png"), p.stderr)
        let csv = try String(contentsOf: predictions, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 13, "header + 12 predicted images")
        XCTAssertTrue(csv[0].hasPrefix("image,top_left_x,top_left_y,top_left_v"), String(csv[0]))
        XCTAssertTrue(csv[1].hasPrefix("images/000000.jpg,"), String(csv[1]))
        try FileManager.default.removeItem(at: cards.appendingPathComponent("images/broken.png"))

        // Fed back as labels, the predictions are exactly what the model says: zero error.
        let selfEval = try BinaryRunner.run(["evaluate", "--model", model.path, "--data", predictions.path, "--json"])
        XCTAssertEqual(selfEval.status, 0, selfEval.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Foundation.Data(selfEval.stdout.utf8)) as? [String: Any])
        let overall = try XCTUnwrap(report["overall"] as? [String: Any])
        XCTAssertEqual(overall["count"] as? Int, 48)
        XCTAssertLessThan(overall["meanError"] as? Double ?? 1, 0.01)

        // Overlay: same size as the image, each keypoint's colour at its predicted position.
        let overlays = root.appendingPathComponent("overlays")
        let one = cards.appendingPathComponent("images/000003.jpg").path
        let o = try BinaryRunner.run(["predict", "--model", model.path, one, "--overlay", overlays.path, "--format", "json"])
        XCTAssertEqual(o.status, 0, o.stderr)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Foundation.Data(o.stdout.utf8)) as? [[String: Any]])
        let points = try XCTUnwrap(rows.first?["keypoints"] as? [String: [Double]])
        let original = try ImageCodec.load(path: one)
        let picture = try ImageCodec.load(path: overlays.appendingPathComponent("000003.png").path)
        XCTAssertEqual(picture.width, original.width)
        XCTAssertEqual(picture.height, original.height)
        // Discs are drawn in keypoint order, so a later one may cover an earlier one at the same spot:
        // the pixel must carry the colour of a keypoint, and the last keypoint's exactly its own.
        let palette = keypointPalette.prefix(4).map { [$0.0, $0.1, $0.2] }
        for (j, name) in ["top_left", "top_right", "bottom_right", "bottom_left"].enumerated() {
            let p = try XCTUnwrap(points[name])
            let x = min(max(Int(p[0]), 0), picture.width - 1), y = min(max(Int(p[1]), 0), picture.height - 1)
            let c = picture[x, y]
            XCTAssertTrue(palette.contains([c.0, c.1, c.2]), "\(name) at (\(x), \(y)) is \(c), not a keypoint colour")
            if j == 3 { XCTAssertEqual([c.0, c.1, c.2], palette[3], "the last keypoint's disc is on top") }
        }

        // Flip test-time augmentation needs declared pairs (synth declares them) and still reports.
        let tta = try BinaryRunner.run(["evaluate", "--model", model.path, "--data", cards.appendingPathComponent("labels.csv").path,
                                        "--flip-tta"])
        XCTAssertEqual(tta.status, 0, tta.stderr)
        XCTAssertTrue(tta.stdout.contains("all"), tta.stdout)
        try FileManager.default.removeItem(at: cards.appendingPathComponent("labels.keypoints.json"))
        let noPairs = try BinaryRunner.run(["evaluate", "--model", model.path, "--data", cards.appendingPathComponent("labels.csv").path,
                                            "--flip-tta"])
        XCTAssertNotEqual(noPairs.status, 0)
        XCTAssertTrue(noPairs.stderr.contains("flip_pairs"), noPairs.stderr)

        let describe = try BinaryRunner.run(["describe", "--model", model.path])
        XCTAssertEqual(describe.status, 0, describe.stderr)
        // The default heatmap head: blocks 1-11, then the maps and the soft-argmax.
        XCTAssertTrue(describe.stdout.contains("conv_dw_11") && !describe.stdout.contains("conv_dw_12")
                      && describe.stdout.contains("soft_argmax") && describe.stdout.contains("trainable parameters"), describe.stdout)

        let real = try BinaryRunner.run(["evaluate", "--model", model.path, "--data", cards.appendingPathComponent("labels.csv").path,
                                         "--normalize", "pair:1,3"])
        XCTAssertEqual(real.status, 0, real.stderr)
        XCTAssertTrue(real.stdout.contains("distance of keypoints 1 and 3") && real.stdout.contains("bottom_left"), real.stdout)
        // labels.csv holds the run's training images: the figures are said not to be held out.
        XCTAssertTrue(real.stderr.contains("were trained on by this run") && real.stderr.contains("not held-out"), real.stderr)

        // The run folder alone: its best model on exactly the images it held out.
        let heldOut = try BinaryRunner.run(["evaluate", "--model", model.path])
        XCTAssertEqual(heldOut.status, 0, heldOut.stderr)
        XCTAssertFalse(heldOut.stderr.contains("trained on"), heldOut.stderr)
        let split = try String(contentsOf: model.appendingPathComponent("split/val.csv"), encoding: .utf8)
        let valCount = split.split(separator: "\n").count - 1
        XCTAssertTrue(heldOut.stdout.contains("\(valCount) images from \(model.path)/split/val.csv (model \(model.path)/best, "
                                              + "on the run's held-out split)"), heldOut.stdout)
    }
}
