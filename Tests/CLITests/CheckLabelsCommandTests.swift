// `keypoints check-labels` on real files: a swapped pair and a duplicated image are found and put
// first on the sheet, --json and --strict work for scripts; and `train` reads a YOLO-pose dataset
// YAML directly, taking its val: split for validation.
import Data
import Foundation
import XCTest

final class CheckLabelsCommandTests: XCTestCase {
    private var dir: URL!
    override func setUpWithError() throws {
        dir = try BinaryRunner.temporaryDirectory()
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", dir.appendingPathComponent("cards").path, "--count", "20", "--size", "64"]).status, 0)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testSwapsAndDuplicatesAreReportedAndDrawnFirst() throws {
        let cards = dir.appendingPathComponent("cards")
        var rows = try String(contentsOf: cards.appendingPathComponent("labels.csv"), encoding: .utf8).split(separator: "\n").map(String.init)
        // Row of image 5: top_left and top_right exchanged (cells 1-3 and 4-6).
        var cells = rows[6].split(separator: ",").map(String.init)
        cells.replaceSubrange(1...6, with: Array(cells[4...6] + cells[1...3]))
        rows[6] = cells.joined(separator: ",")
        try FileManager.default.copyItem(at: cards.appendingPathComponent("images/000002.jpg"), to: cards.appendingPathComponent("images/copy.jpg"))
        rows.append(rows[3].replacingOccurrences(of: "images/000002.jpg", with: "images/copy.jpg"))
        try (rows.joined(separator: "\n") + "\n").write(to: cards.appendingPathComponent("labels.csv"), atomically: true, encoding: .utf8)

        let sheet = dir.appendingPathComponent("sheet.png")
        let r = try BinaryRunner.run(["check-labels", "--data", cards.appendingPathComponent("labels.csv").path, "--out", sheet.path, "--sample", "6", "--tile", "128"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("top_left is left of top_right in 95% of 21 image(s); 1 image(s) the other way round (likely swapped labels)")
                      && r.stdout.contains("000005.jpg"), r.stdout)
        XCTAssertTrue(r.stdout.contains("duplicate images: 1 group(s)") && r.stdout.contains("000002.jpg = "), r.stdout)
        XCTAssertTrue(r.stdout.contains("wrote \(sheet.path): 6 of 21 image(s)"), r.stdout)
        let picture = try ImageCodec.load(path: sheet.path)
        XCTAssertEqual(picture.width, 3 * 128 + 4 * 4, "3 columns of 128 px tiles with 4 px gaps")
        XCTAssertGreaterThan(picture.height, 2 * 128 + 3 * 4, "two rows of tiles under a colour key")

        let json = try BinaryRunner.run(["check-labels", "--data", cards.appendingPathComponent("labels.csv").path, "--out", sheet.path, "--json"])
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], json.stdout)
        let pairs = try XCTUnwrap(report["flip_pairs"] as? [[String: Any]])
        XCTAssertEqual((pairs[0]["likely_swapped"] as? [String])?.map { ($0 as NSString).lastPathComponent }, ["000005.jpg"])
        XCTAssertEqual((report["duplicates"] as? [[String]])?.count, 1)
        XCTAssertEqual((report["keypoints"] as? [[String: Any]])?.first?["name"] as? String, "top_left")
        let strict = try BinaryRunner.run(["check-labels", "--data", cards.appendingPathComponent("labels.csv").path, "--out", sheet.path, "--strict"])
        XCTAssertEqual(strict.status, 1, "--strict fails on findings")
    }

    func testTrainReadsAYOLOPoseDatasetWithItsValSplit() throws {
        let cards = dir.appendingPathComponent("cards"), yolo = dir.appendingPathComponent("yolo")
        let (set, _) = try LabelReader.read(path: cards.appendingPathComponent("labels.csv").path)
        for (i, record) in set.records.enumerated() {
            let split = i < 16 ? "train" : "val", name = "card\(i)"
            let images = yolo.appendingPathComponent("images/\(split)"), labels = yolo.appendingPathComponent("labels/\(split)")
            try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: labels, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: record.imagePath, toPath: images.appendingPathComponent("\(name).jpg").path)
            let size = try ImageCodec.imageSize(try Data(contentsOf: URL(fileURLWithPath: record.imagePath)), path: record.imagePath)
            let points = (0..<4).map { j in String(format: "%.6f %.6f %d", record.keypoints[2 * j] / Float(size.width),
                                                   record.keypoints[2 * j + 1] / Float(size.height), record.visibility[j]) }
            try ("0 0.5 0.5 1 1 " + points.joined(separator: " ") + "\n").write(to: labels.appendingPathComponent("\(name).txt"), atomically: true, encoding: .utf8)
        }
        try """
            path: .
            train: images/train
            val: images/val
            kpt_shape: [4, 3]
            flip_idx: [1, 0, 3, 2]
            names: {0: card}
            kpt_names: {0: [top_left, top_right, bottom_right, bottom_left]}
            """.write(to: yolo.appendingPathComponent("cards-pose.yaml"), atomically: true, encoding: .utf8)
        let r = try BinaryRunner.run(["train", "--data", yolo.appendingPathComponent("cards-pose.yaml").path, "--alpha", "0.25", "--input-size", "96",
                                      "--hidden", "8", "--epochs", "1", "--batch-size", "8", "--out", dir.appendingPathComponent("run").path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("validation: the val: split of") && r.stdout.contains("16 train / 4 val images"), r.stdout)
        XCTAssertTrue(r.stdout.contains("horizontal flips with probability 0.5"), "flip_idx gives flip pairs: \(r.stdout)")
    }
}
