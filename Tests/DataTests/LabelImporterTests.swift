// Other tools' label files, each written here in that tool's own layout as its documentation gives it:
// DeepLabCut's CollectedData_<scorer>.csv (the single-animal user guide: three header rows scorer /
// bodyparts / coords, then one row per frame, paths under labeled-data/<video>/; 2.2+ with three
// index columns) and an Ultralytics YOLO-pose dataset (docs "Pose Estimation Datasets Overview":
// a YAML with path/train/val/kpt_shape/flip_idx and labels/*.txt of `class cx cy w h x y v ...`
// normalised to the image).
import Foundation
import XCTest
@testable import Data

final class LabelImporterTests: XCTestCase {
    private func png(_ w: Int, _ h: Int) -> [UInt8] { Array(try! ImageCodec.encodePNG(RGBImage(width: w, height: h, fill: (9, 9, 9)))) }

    func testDeepLabCutBeforeAndAfter22() throws {
        let dir = TempFolder()
        dir.write("project/labeled-data/reach1/img001.png", bytes: png(40, 30))
        dir.write("project/labeled-data/reach1/img002.png", bytes: png(40, 30))
        let old = dir.write("project/labeled-data/reach1/CollectedData_Mackenzie.csv", """
            scorer,Mackenzie,Mackenzie,Mackenzie,Mackenzie
            bodyparts,snout,snout,leftear,leftear
            coords,x,y,x,y
            labeled-data/reach1/img001.png,12.5,7.25,30,4
            labeled-data/reach1/img002.png,11,8,,

            """)
        XCTAssertTrue(DeepLabCutLabels.recognises(try Data(contentsOf: URL(fileURLWithPath: old))))
        let (set, skipped) = try LabelReader.read(path: old)
        XCTAssertEqual(skipped, [])
        XCTAssertEqual(set.description.keypointNames, ["snout", "leftear"])
        XCTAssertEqual(set.records.map(\.imagePath), [dir.path + "/project/labeled-data/reach1/img001.png",
                                                       dir.path + "/project/labeled-data/reach1/img002.png"], "paths from the project folder")
        XCTAssertEqual(set.records[0].keypoints, [12.5, 7.25, 30, 4])
        XCTAssertEqual(set.records[1].visibility, [2, 0], "an empty body part is not labelled")
        XCTAssertEqual(set.records[1].source, old + ":5")

        let new = dir.write("project/labeled-data/reach1/CollectedData_Alex.csv", """
            scorer,,,Alex,Alex,Alex,Alex
            bodyparts,,,snout,snout,leftear,leftear
            coords,,,x,y,x,y
            labeled-data,reach1,img001.png,12.5,7.25,NaN,NaN
            labeled-data,reach1,img002.png,1,2,3,4
            """)
        let (set2, _) = try LabelReader.read(path: new)
        XCTAssertEqual(set2.records.map(\.imagePath), set.records.map(\.imagePath))
        XCTAssertEqual(set2.records[0].visibility, [2, 0], "NaN is not labelled")
        let dataset = try KeypointDataset.load(labels: new)
        XCTAssertEqual(dataset.count, 2, "the images load as training samples")
    }

    func testDeepLabCutMistakesAreNamed() {
        let dir = TempFolder()
        let multi = dir.write("m.csv", "scorer,A,A\nindividuals,mouse1,mouse1\nbodyparts,snout,snout\ncoords,x,y\nimg.png,1,2\n")
        _ = assertDataError(try LabelReader.read(path: multi), ["m.csv:2", "multi-animal", "single-animal"])
        let bad = dir.write("b.csv", "scorer,A,A\nbodyparts,snout,snout\ncoords,x,y\nimg.png,1,oops\n")
        _ = assertDataError(try LabelReader.read(path: bad), ["b.csv:4", "body part 1", "'oops'"])
        let short = dir.write("s.csv", "scorer,A,A\nbodyparts,snout,snout\ncoords,x,y\nimg.png,1\n")
        _ = assertDataError(try LabelReader.read(path: short), ["s.csv:4", "has 2 cells, the header 3"])
        let mixed = dir.write("x.csv", "scorer,A,A\nbodyparts,snout,tail\ncoords,x,y\nimg.png,1,2\n")
        _ = assertDataError(try LabelReader.read(path: mixed), ["x.csv:3", "one body part's x and y"])
    }

    /// The layout of Ultralytics' tiger-pose / coco8-pose: images/{train,val}, labels/{train,val}.
    private func yoloDataset(_ dir: TempFolder, kptShape: String = "[3, 3]", line: String? = nil) -> String {
        dir.write("pose/images/train/a.png", bytes: png(100, 50))
        dir.write("pose/images/train/b.png", bytes: png(100, 50))
        dir.write("pose/images/train/unlabelled.png", bytes: png(100, 50))
        dir.write("pose/images/val/c.png", bytes: png(20, 40))
        dir.write("pose/labels/train/a.txt", line ?? "0 0.5 0.5 0.8 0.8 0.1 0.2 2 0.9 0.2 2 0.5 0.8 1\n")
        dir.write("pose/labels/train/b.txt", "0 0.5 0.5 0.8 0.8 0.2 0.2 2 0.8 0.3 2 0 0 0\n")
        dir.write("pose/labels/val/c.txt", "0 0.5 0.5 1 1 0.25 0.5 2 0.75 0.5 2 0.5 0.25 2\n")
        return dir.write("pose/data.yaml", """
            # Ultralytics YOLO-pose dataset
            path: .
            train: images/train
            val: images/val
            kpt_shape: \(kptShape)
            flip_idx: [1, 0, 2]
            names:
              0: face
            kpt_names:
              0: [left_eye, right_eye, chin]
            """)
    }

    func testYOLOPoseSplitsNamesFlipPairsAndPixels() throws {
        let dir = TempFolder()
        let yaml = yoloDataset(dir)
        let (train, skipped) = try LabelReader.read(path: yaml)
        XCTAssertEqual(train.description.keypointNames, ["left_eye", "right_eye", "chin"])
        XCTAssertEqual(train.description.flipPairs, [[0, 1]], "flip_idx [1, 0, 2] swaps 0 and 1")
        XCTAssertTrue(train.description.flipPairsDeclared)
        XCTAssertEqual(train.records.map { ($0.imagePath as NSString).lastPathComponent }, ["a.png", "b.png"])
        XCTAssertEqual(train.records[0].keypoints, [10, 10, 90, 10, 50, 40], "normalised by the image's 100 x 50 pixels")
        XCTAssertEqual(train.records[0].visibility, [2, 2, 1])
        XCTAssertEqual(train.records[1].visibility, [2, 2, 0])
        XCTAssertTrue(skipped.contains { $0.message.contains("1 image(s) of 'train' without a label") }, "\(skipped)")
        let (val, _) = try LabelReader.read(path: yaml, split: "val")
        XCTAssertEqual(val.records.count, 1)
        XCTAssertEqual(val.records[0].keypoints, [5, 20, 15, 20, 10, 10], "normalised by 20 x 40")
        XCTAssertTrue(YOLOPoseLabels.has(split: "val", yaml: yaml))
    }

    func testYOLOPoseWithoutVisibilityAndItsMistakes() throws {
        let dir = TempFolder()
        let yaml = yoloDataset(dir, kptShape: "[3, 2]", line: "0 0.5 0.5 1 1 0.1 0.2 0 0 0.5 0.5\n")
        dir.write("pose/labels/train/b.txt", "0 0.5 0.5 1 1 0.1 0.2 0.3 0.4 0.5 0.6\n")
        dir.write("pose/labels/val/c.txt", "0 0.5 0.5 1 1 0.1 0.2 0.3 0.4 0.5 0.6\n")
        let (train, _) = try LabelReader.read(path: yaml)
        XCTAssertEqual(train.records[0].visibility, [2, 0, 2], "[K, 2]: a point at (0, 0) is not labelled")

        let two = TempFolder()
        let yaml2 = yoloDataset(two, line: "0 0.5 0.5 1 1 0.1 0.2 2 0.9 0.2 2 0.5 0.8 1\n1 0.5 0.5 1 1 0.1 0.2 2 0.9 0.2 2 0.5 0.8 1\n")
        _ = assertDataError(try LabelReader.read(path: yaml2), ["a.txt", "2 objects", "one object per image"])
        let short = TempFolder()
        let yaml3 = yoloDataset(short, line: "0 0.5 0.5 1 1 0.1 0.2\n")
        _ = assertDataError(try LabelReader.read(path: yaml3), ["a.txt:1", "needs class, 4 box numbers and 9 keypoint numbers"])
        let badFlip = TempFolder()
        let yaml4 = yoloDataset(badFlip)
        try String(contentsOfFile: yaml4, encoding: .utf8).replacingOccurrences(of: "flip_idx: [1, 0, 2]", with: "flip_idx: [1, 2, 0]")
            .write(toFile: yaml4, atomically: true, encoding: .utf8)
        _ = assertDataError(try LabelReader.read(path: yaml4), ["data.yaml:6", "flip_idx", "its mirror image"])
    }

    func testAuditFindsSwapsDuplicatesAndPointsOutsideTheImage() throws {
        let dir = TempFolder()
        for i in 0..<10 { dir.write("img\(i).png", bytes: Array(try ImageCodec.encodePNG(RGBImage(width: 50, height: 40, fill: (UInt8(i), 0, 0))))) }
        dir.write("copy.png", bytes: Array(try ImageCodec.encodePNG(RGBImage(width: 50, height: 40, fill: (3, 0, 0)))))
        var csv = "image,left_x,left_y,right_x,right_y,nose_x,nose_y,nose_v\n"
        for i in 0..<10 { csv += i == 7 ? "img7.png,35,10,15,10,25,20,1\n" : "img\(i).png,15,10,35,10,25,20,2\n" }
        csv += "copy.png,15,10,35,10,52,20,2\n"
        let labels = dir.write("labels.csv", csv)
        dir.write("labels.keypoints.json", #"{"keypoints": ["left", "right", "nose"], "flip_pairs": [["left", "right"]]}"#)
        let audit = LabelAudit(try KeypointDataset.load(labels: labels))
        XCTAssertEqual(audit.keypoints.map(\.visible), [11, 11, 10])
        XCTAssertEqual(audit.keypoints[2].occluded, 1)
        XCTAssertEqual(audit.duplicates, [[dir.path + "/copy.png", dir.path + "/img3.png"]])
        XCTAssertEqual(audit.outOfFrame.map(\.image), [dir.path + "/copy.png"], "x 52 in a 50 px wide image")
        XCTAssertEqual(audit.pairs.first?.againstMajority, [dir.path + "/img7.png"], "left sits right of right in img7 only")
        XCTAssertEqual(audit.pairs.first?.firstLeft ?? 0, 10.0 / 11, accuracy: 1e-9)
        XCTAssertEqual(audit.findings, 3)
        let report = audit.report()
        XCTAssertTrue(report.contains("1 image(s) the other way round (likely swapped labels)") && report.contains("img7.png"), report)
    }

    func testTextIsDrawnWithTheFont() throws {
        let font = try Font(pixelHeight: 14)
        var image = RGBImage(width: 80, height: 20)
        font.draw("left_eye", into: &image, x: 2, y: 2, colour: (255, 255, 255))
        let lit = (0..<20).flatMap { y in (0..<80).map { x in image[x, y] } }.filter { $0.0 > 128 }.count
        XCTAssertGreaterThan(lit, 40, "glyphs were drawn")
        XCTAssertGreaterThan(font.width("left_eye"), font.width("eye"))
        XCTAssertThrowsError(try Font(path: "/nonexistent.ttf")) { XCTAssertTrue("\($0)".contains("fonts-dejavu-core"), "\($0)") }
    }
}
