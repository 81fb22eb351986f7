// Tests of the description file (names, flip pairs, skeleton): where it is found, how it merges with
// the labels, its errors, and the check that training and validation labels agree.
import Foundation
import XCTest
@testable import Data

final class DescriptionTests: XCTestCase {
    static let csv = "image,x1,y1,x2,y2,x3,y3,x4,y4\na.jpg,1,2,3,4,5,6,7,8\n"

    func testLookupPrefersTheLabelsOwnFileThenDatasetJSONAndNeverTheLabelsFile() {
        let dir = TempFolder()
        let labels = dir.write("train.csv", Self.csv)
        XCTAssertNil(DatasetDescriptionFile.locate(forLabels: labels))
        let shared = dir.write("dataset.json", "{}")
        XCTAssertEqual(DatasetDescriptionFile.locate(forLabels: labels), shared)
        let own = dir.write("train.keypoints.json", "{}")
        XCTAssertEqual(DatasetDescriptionFile.locate(forLabels: labels), own)
        // A COCO file called dataset.json is not its own description.
        let other = TempFolder()
        let coco = other.write("dataset.json", "{}")
        XCTAssertNil(DatasetDescriptionFile.locate(forLabels: coco))
        let third = TempFolder()
        third.write("folder.keypoints.json/x", "")
        XCTAssertNil(DatasetDescriptionFile.locate(forLabels: third.path + "/folder.csv"), "a folder is not a description")
    }

    func testDescriptionNamesFlipPairsAndSkeletonMergeIntoNumberedLabels() throws {
        let dir = TempFolder()
        let labels = dir.write("train.csv", Self.csv)
        dir.write("train.keypoints.json", """
            {"keypoints": ["left_eye", "right_eye", "nose", "mouth"],
             "flip_pairs": [["right_eye", "left_eye"]],
             "skeleton": [[0, "nose"], ["right_eye", 2], [2, 3]]}
            """)
        let (set, _) = try LabelReader.read(path: labels)
        XCTAssertEqual(set.description, DatasetDescription(
            keypointNames: ["left_eye", "right_eye", "nose", "mouth"], flipPairs: [[1, 0]],
            skeleton: [[0, 2], [1, 2], [2, 3]], flipPairsDeclared: true))
    }

    func testFlipPairsAreDeclaredOnlyWhenTheKeyIsPresentEvenIfEmpty() throws {
        let dir = TempFolder()
        let labels = dir.write("train.csv", Self.csv)
        let empty = dir.write("empty.json", "{\"flip_pairs\": []}")
        let none = dir.write("none.json", "{\"skeleton\": [[0, 1]]}")
        let (declared, _) = try LabelReader.read(path: labels, description: empty)
        XCTAssertTrue(declared.description.flipPairsDeclared)
        XCTAssertEqual(declared.description.flipPairs, [])
        XCTAssertEqual(declared.description.keypointNames, ["kp1", "kp2", "kp3", "kp4"])
        let (undeclared, _) = try LabelReader.read(path: labels, description: none)
        XCTAssertFalse(undeclared.description.flipPairsDeclared)
        XCTAssertEqual(undeclared.description.skeleton, [[0, 1]])
    }

    func testExplicitDescriptionWinsOverTheOneNextToTheLabels() throws {
        let dir = TempFolder()
        let labels = dir.write("train.csv", Self.csv)
        dir.write("dataset.json", "{\"flip_pairs\": [[0, 1]]}")
        let explicit = dir.write("elsewhere/mine.json", "{\"flip_pairs\": [[2, 3]]}")
        XCTAssertEqual(try LabelReader.read(path: labels).0.description.flipPairs, [[0, 1]])
        XCTAssertEqual(try LabelReader.read(path: labels, description: explicit).0.description.flipPairs, [[2, 3]])
        assertDataError(try LabelReader.read(path: labels, description: dir.path + "/nope.json"),
                        ["nope.json", "description file not found"])
    }

    func testCOCOSkeletonIsKeptUnlessTheDescriptionGivesOne() throws {
        let dir = TempFolder()
        let labels = dir.write("coco.json", LabelsCOCOTests.valid)
        XCTAssertEqual(try LabelReader.read(path: labels).0.description.skeleton, [[0, 1], [1, 2]])
        dir.write("coco.keypoints.json", "{\"keypoints\": [\"left_eye\", \"right_eye\", \"nose\"], \"flip_pairs\": [[0, 1]]}")
        let (set, _) = try LabelReader.read(path: labels)
        XCTAssertEqual(set.description.skeleton, [[0, 1], [1, 2]])
        XCTAssertEqual(set.description.flipPairs, [[0, 1]])
        dir.write("coco.keypoints.json", "{\"skeleton\": [[\"nose\", \"left_eye\"]]}")
        XCTAssertEqual(try LabelReader.read(path: labels).0.description.skeleton, [[2, 0]])
    }

    func testBadDescriptionsNameTheFilesAndSayWhatToDo() throws {
        let dir = TempFolder()
        let numbered = dir.write("train.csv", Self.csv)
        let named = dir.write("named.csv", "image,a_x,a_y,b_x,b_y\nz.jpg,1,2,3,4\n")
        let cases: [(String, String, [String])] = [
            (numbered, "{\"keypoints\": [\"a\", \"b\", \"c\"]}",
             ["lists 3 keypoints (a, b, c) but \(numbered) has 4", "same keypoints in the same order"]),
            (named, "{\"keypoints\": [\"b\", \"a\"]}", ["keypoint 1 is 'b' here but 'a' in \(named)", "same order"]),
            (numbered, "{\"keypoints\": [\"a\", \"b\", \"a\", \"d\"]}", ["keypoints lists 'a' twice", "unique"]),
            (numbered, "{\"keypoints\": [\"a\", \"b\", 3, \"d\"]}", ["keypoints must be a list of names"]),
            (named, "{\"flip_pairs\": [[\"a\", \"c\"]]}", ["flip_pairs[0] names an unknown keypoint 'c'", "known names are a, b"]),
            (named, "{\"flip_pairs\": [[0, 2]]}", ["flip_pairs[0] has index 2, out of range 0...1", "0-based"]),
            (named, "{\"flip_pairs\": [[0, -1]]}", ["flip_pairs[0] has index -1"]),
            (named, "{\"flip_pairs\": [[0, 1.5]]}", ["flip_pairs[0] has 1.5", "0-based index"]),
            (numbered, "{\"flip_pairs\": [[0, 1], [2, 1]]}", ["keypoint 'kp2' is in flip_pairs[0] and flip_pairs[1]", "at most one other"]),
            (named, "{\"flip_pairs\": [[\"a\", \"a\"]]}", ["joins keypoint 'a' with itself"]),
            (named, "{\"flip_pairs\": [[0, 1, 1]]}", ["flip_pairs[0] is not a pair"]),
            (named, "{\"flip_pairs\": {\"a\": \"b\"}}", ["flip_pairs must be a list of [a, b] pairs"]),
            (named, "{\"skeleton\": [[0, 5]]}", ["skeleton[0] has index 5"]),
            (named, "{\"flip_pair\": [[0, 1]]}", ["unknown key 'flip_pair'", "keypoints, flip_pairs, skeleton"]),
            (named, "[\"a\", \"b\"]", ["must be a JSON object"]),
            (named, "{\"keypoints\": [\"a\", ", ["is not valid JSON", "fix the syntax"]),
        ]
        for (i, (labels, json, fragments)) in cases.enumerated() {
            let description = dir.write("d\(i).json", json)
            assertDataError(try LabelReader.read(path: labels, description: description),
                            ["d\(i).json: "] + fragments, "case \(i): \(json)")
        }
    }

    func testCheckCompatibleNamesBothFiles() throws {
        let dir = TempFolder()
        let (train, _) = try LabelReader.read(path: dir.write("train.csv", "image,a_x,a_y,b_x,b_y\nz.jpg,1,2,3,4\n"))
        let (same, _) = try LabelReader.read(path: dir.write("val.csv", "image,a_y,b_x,a_x,b_y\ny.jpg,1,2,3,4\n"))
        let (swapped, _) = try LabelReader.read(path: dir.write("swapped.csv", "image,b_x,b_y,a_x,a_y\ny.jpg,1,2,3,4\n"))
        let (fewer, _) = try LabelReader.read(path: dir.write("fewer.csv", "image,a_x,a_y\ny.jpg,1,2\n"))
        XCTAssertNoThrow(try LabelReader.checkCompatible(train, same))
        assertDataError(try LabelReader.checkCompatible(train, swapped),
                        ["swapped.csv: keypoint 1 is 'b' here but 'a' in \(train.sourceFile)", "same order"])
        assertDataError(try LabelReader.checkCompatible(train, fewer),
                        ["fewer.csv: has 1 keypoints (a) but \(train.sourceFile) has 2 (a, b)", "same keypoints"])
    }
}
