// Tests of COCO keypoints JSON labels: a valid file (paths, 0-based skeleton, unlabelled keypoints,
// images without annotation), ignored annotations, one object per image, malformed files naming the
// file and the id, and a mutation fuzz.
import Foundation
import XCTest
@testable import Data

final class LabelsCOCOTests: XCTestCase {
    /// Three keypoints, four images: 1 and 3 annotated, 2 without annotation, 4 only with a crowd region.
    static let valid = """
        {"images": [
            {"id": 1, "file_name": "img/a.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "img/unlabelled.jpg", "width": 64, "height": 48},
            {"id": 3, "file_name": "/abs/c.jpg", "width": 64, "height": 48},
            {"id": 4, "file_name": "crowd.jpg", "width": 64, "height": 48}],
         "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "keypoints": [1.5, 2, 2, 3, 4, 1, 9, 9, 0], "num_keypoints": 2},
            {"id": 11, "image_id": 3, "category_id": 1, "keypoints": [5, 6, 2, 7, 8, 2, 10, 11, 2]},
            {"id": 12, "image_id": 3, "category_id": 2, "bbox": [0, 0, 10, 10], "keypoints": [0, 0, 0]},
            {"id": 13, "image_id": 3, "category_id": 1, "bbox": [0, 0, 10, 10]},
            {"id": 14, "image_id": 4, "category_id": 1, "iscrowd": 1, "keypoints": [0, 0, 0, 0, 0, 0, 0, 0, 0]}],
         "categories": [
            {"id": 1, "name": "face", "keypoints": ["left_eye", "right_eye", "nose"], "skeleton": [[1, 2], [2, 3]]},
            {"id": 2, "name": "background"}]}
        """

    func testValidFileGivesRecordsNamesAndZeroBasedSkeleton() throws {
        let dir = TempFolder()
        let file = dir.write("sub/train.json", Self.valid)
        let (set, skipped, unannotated) = try COCOLabels.read(path: file)
        XCTAssertEqual(skipped, [])
        XCTAssertEqual(unannotated, 2, "image 2 has no annotation; image 4 only a crowd region")
        XCTAssertEqual(set.description.keypointNames, ["left_eye", "right_eye", "nose"])
        XCTAssertEqual(set.description.skeleton, [[0, 1], [1, 2]])
        XCTAssertFalse(set.description.flipPairsDeclared)
        XCTAssertEqual(set.records.map(\.imagePath), [dir.path + "/sub/img/a.jpg", "/abs/c.jpg"])
        XCTAssertEqual(set.records[0].keypoints, [1.5, 2, 3, 4, 0, 0], "v = 0 gives coordinates 0")
        XCTAssertEqual(set.records[0].visibility, [2, 1, 0])
        XCTAssertEqual(set.records[1].keypoints, [5, 6, 7, 8, 10, 11])
        XCTAssertEqual(set.records[0].source, file + " annotation 10")

        // Through LabelReader the images without annotation are reported as one entry.
        let (same, reported) = try LabelReader.read(path: file)
        XCTAssertEqual(same.records, set.records)
        XCTAssertEqual(reported.count, 1)
        XCTAssertTrue(reported[0].description.contains("skipped 2 image(s) without a keypoint annotation"), "\(reported)")

        let (rooted, _, _) = try COCOLabels.read(path: file, imagesRoot: "/images")
        XCTAssertEqual(rooted.records.map(\.imagePath), ["/images/img/a.jpg", "/abs/c.jpg"])
    }

    func testWithoutKeypointCategoryNamesAreDefaultAndKComesFromTheAnnotations() throws {
        let dir = TempFolder()
        let file = dir.write("plain.json", """
            {"images": [{"id": "x", "file_name": "a.jpg"}],
             "annotations": [{"id": 1, "image_id": "x", "keypoints": [1, 2, 2, 3, 4, 2]}]}
            """)
        let (set, _, _) = try COCOLabels.read(path: file)
        XCTAssertEqual(set.description.keypointNames, ["kp1", "kp2"])
        XCTAssertEqual(set.records.first?.keypoints, [1, 2, 3, 4])
    }

    func testMoreThanOneObjectPerImageIsAnErrorNamingTheImageOrSkipped() throws {
        let dir = TempFolder()
        let file = dir.write("two.json", """
            {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
             "annotations": [{"id": 10, "image_id": 1, "keypoints": [1, 2, 2]},
                             {"id": 11, "image_id": 2, "keypoints": [3, 4, 2]},
                             {"id": 12, "image_id": 1, "keypoints": [5, 6, 2]}],
             "categories": [{"id": 1, "keypoints": ["centre"]}]}
            """)
        assertDataError(try COCOLabels.read(path: file),
                        ["two.json: image 1 (a.jpg) has 2 keypoint annotations (annotation 10, annotation 12)",
                         "one object per image", "keep one annotation"])
        let (set, skipped, _) = try COCOLabels.read(path: file, skipBad: true)
        XCTAssertEqual(set.records.map(\.keypoints), [[3, 4]])
        XCTAssertEqual(skipped.count, 1)
        XCTAssertTrue(skipped[0].message.contains("image 1 (a.jpg)"), "\(skipped)")
    }

    func testMalformedFilesNameFileAndIdAndSayWhatToDo() throws {
        func variant(_ from: String, _ to: String) -> String {
            precondition(Self.valid.contains(from), from)
            return Self.valid.replacingOccurrences(of: from, with: to)
        }
        let cases: [(String, [String])] = [
            ("{\"images\": [", ["is not valid JSON", "fix the syntax"]),
            ("{\"images\": [],\n \"annotations\": [,]}", ["is not valid JSON (Invalid value around character", ", line 2)"]),
            ("{\"images\": [], \"annotations\": [1e999]}", ["is not valid JSON (Number 1e999 is not representable"]),
            ("[1, 2]", ["top level must be an object"]),
            ("{\"annotations\": []}", ["needs an \"images\" list and an \"annotations\" list"]),
            (variant("[1.5, 2, 2, 3, 4, 1, 9, 9, 0]", "[1.5, 2, 2, 3, 4, 1, 9, 9]"),
             ["annotation 10 of image 1 (img/a.jpg)", "keypoints has 8 values, expected 9", "fix the annotation"]),
            (variant("[1.5, 2, 2, 3, 4, 1, 9, 9, 0]", "[1.5, 2, 3, 3, 4, 1, 9, 9, 0]"),
             ["annotation 10", "visibility of keypoint 1 is 3", "use 0"]),
            (variant("[1.5, 2, 2, 3, 4, 1, 9, 9, 0]", "[1.5, \"2\", 2, 3, 4, 1, 9, 9, 0]"),
             ["annotation 10", "keypoint 1 has coordinates 1.5, \"2\"", "finite numbers in pixels"]),
            (variant("\"id\": 11, \"image_id\": 3", "\"id\": 11, \"image_id\": 99"),
             ["annotation 11 refers to image_id 99", "not in images", "add the image"]),
            (variant("\"id\": 11, \"image_id\": 3", "\"id\": 11"), ["annotation 11 has no image_id"]),
            (variant("\"file_name\": \"/abs/c.jpg\"", "\"name\": \"/abs/c.jpg\""), ["image 3 has no file_name", "relative to the JSON"]),
            (variant("{\"id\": 2, \"file_name\"", "{\"id\": 1, \"file_name\""), ["image id 1 is used twice", "must be unique"]),
            (variant("\"file_name\": \"/abs/c.jpg\"", "\"file_name\": \"./img/a.jpg\""),
             ["image 3 (./img/a.jpg) is the same file as image 1", "one image entry per file"]),
            (variant("\"name\": \"background\"}", "\"name\": \"background\", \"keypoints\": [\"x\"]}"),
             ["2 categories with keypoints", "keep one category"]),
            (variant("[[1, 2], [2, 3]]", "[[0, 1], [1, 2]]"), ["categories[0].skeleton[0] is [0, 1]", "1-based"]),
            (variant("\"right_eye\"", "7"), ["categories[0].keypoints[1] is 7", "names as strings"]),
            (variant("\"right_eye\"", "\"left_eye\""), ["keypoints lists 'left_eye' twice", "unique"]),
            ("{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\"}], \"annotations\": []}",
             ["no image has a keypoint annotation (1 images, 0 annotations)", "add annotations"]),
        ]
        let dir = TempFolder()
        for (i, (text, fragments)) in cases.enumerated() {
            let file = dir.write("bad\(i).json", text)
            assertDataError(try COCOLabels.read(path: file), ["bad\(i).json: "] + fragments, "case \(i)")
        }
        assertDataError(try LabelReader.read(path: dir.path + "/none.json"), ["none.json", "not found"])
    }

    func testSkipBadKeepsTheGoodImagesAndReportsTheRest() throws {
        let dir = TempFolder()
        let file = dir.write("some.json", Self.valid.replacingOccurrences(
            of: "[5, 6, 2, 7, 8, 2, 10, 11, 2]", with: "[5, 6, 2, 7, 8, 2, 10, 11, 5]"))
        let (set, skipped, _) = try COCOLabels.read(path: file, skipBad: true)
        XCTAssertEqual(set.records.map(\.source), [file + " annotation 10"])
        XCTAssertEqual(skipped.count, 1)
        XCTAssertTrue(skipped[0].description.contains("annotation 11 of image 3"), "\(skipped)")
    }

    func testJSONTreeKeepsEachValuesType() throws {
        let text = "[true, false, 1, -2.5, \"x\", null, {\"k\": [1e3]}, []]"
        XCTAssertEqual(try JSONValue.parse(Foundation.Data(text.utf8), file: "t.json", what: "test"),
                       .array([.bool(true), .bool(false), .number(1), .number(-2.5), .string("x"), .null,
                               .object(["k": .array([.number(1000)])]), .array([])]))
    }

    func testRandomMutationsGiveRecordsOrADataErrorNeverACrash() {
        fuzz(Array(Self.valid.utf8), name: "labels.json", seed: 7_2026) { bytes, skipBad in
            let (set, skipped, _) = try COCOLabels.parse(Foundation.Data(bytes), file: "labels.json",
                                                         imagesRoot: "/data", skipBad: skipBad)
            return (set, skipped)
        }
    }
}
