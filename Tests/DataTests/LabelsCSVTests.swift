// Tests of CSV labels: header styles, visibility, quoting and line ends, paths, every malformed case
// (message names file:line and says what to do), skipping bad rows, the writer, and a mutation fuzz.
// The end of the file holds the helpers the label tests share (temporary folders, error checks, fuzzing).
import Foundation
import XCTest
@testable import Data

final class LabelsCSVTests: XCTestCase {
    func testNumberedHeaderGivesDefaultNamesAndPathsRelativeToTheCSVFolder() throws {
        let dir = TempFolder()
        let file = dir.write("sub/labels.csv", "image,x1,y1,x2,y2\nimg/a.jpg,1,2,3,4\n../b.png,5.5,-6,700,8e1\n/abs/c.jpg,0,0,1,1\n")
        let (set, skipped) = try CSVLabels.read(path: file)
        XCTAssertEqual(skipped, [])
        XCTAssertEqual(set.description.keypointNames, ["kp1", "kp2"])
        XCTAssertFalse(set.description.flipPairsDeclared)
        XCTAssertEqual(set.sourceFile, file)
        XCTAssertEqual(set.records.map(\.imagePath), [dir.path + "/sub/img/a.jpg", dir.path + "/b.png", "/abs/c.jpg"])
        XCTAssertEqual(set.records[1].keypoints, [5.5, -6, 700, 80])
        XCTAssertEqual(set.records[1].visibility, [2, 2])
        XCTAssertEqual(set.records[2].source, file + ":4")
    }

    func testImagesRootReplacesTheCSVFolderForRelativePaths() throws {
        let dir = TempFolder()
        let file = dir.write("labels.csv", "image,x1,y1\na.jpg,1,2\n/abs/b.jpg,1,2\n")
        let (set, _) = try CSVLabels.read(path: file, imagesRoot: "/images/root/")
        XCTAssertEqual(set.records.map(\.imagePath), ["/images/root/a.jpg", "/abs/b.jpg"])
    }

    func testNamedColumnsInAnyOrderWithVisibility() throws {
        let dir = TempFolder()
        let file = dir.write("named.csv", """
            image,top_right_y,top_left_x,top_left_Y,top_left_v,top_right_x,top_right_V
            a.jpg,20,1,2,1,10,2
            b.jpg,,3,4,,,0

            """)
        let (set, _) = try CSVLabels.read(path: file)
        // Order of first appearance in the header: top_right, then top_left; the axis letter may be upper case.
        XCTAssertEqual(set.description.keypointNames, ["top_right", "top_left"])
        XCTAssertEqual(set.records[0].keypoints, [10, 20, 1, 2])
        XCTAssertEqual(set.records[0].visibility, [2, 1])
        XCTAssertEqual(set.records[1].keypoints, [0, 0, 3, 4])
        XCTAssertEqual(set.records[1].visibility, [0, 2], "empty v with coordinates means visible")
    }

    func testEmptyCellsAndZeroVisibilityMeanNotLabelled() throws {
        let dir = TempFolder()
        let file = dir.write("v.csv", """
            image,x1,y1,v1,x2,y2,v2,x3,y3,v3
            a.jpg,5,6,0,,,,7,8,2.0
            b.jpg,,,0,1.5,2.5,1,9,9,

            """)
        let (set, _) = try CSVLabels.read(path: file)
        XCTAssertEqual(set.records[0].keypoints, [0, 0, 0, 0, 7, 8], "v = 0 drops the coordinates")
        XCTAssertEqual(set.records[0].visibility, [0, 0, 2])
        XCTAssertEqual(set.records[1].keypoints, [0, 0, 1.5, 2.5, 9, 9])
        XCTAssertEqual(set.records[1].visibility, [0, 1, 2])
    }

    func testQuotedFieldsCRLFByteOrderMarkBlankAndCommentLines() throws {
        let dir = TempFolder()
        let text = "# exported by a tool\r\nimage , \"x1\",y1\r\n\r\n\"a, \"\"quoted\"\".jpg\",1,2\r\n"
            + "  # an indented comment\r\n\"#not a comment.jpg\" , 3 , 4\r\n   \r\nplain.jpg,5,6"
        let file = dir.write("q.csv", bytes: [0xEF, 0xBB, 0xBF] + Array(text.utf8))
        let (set, _) = try CSVLabels.read(path: file)
        XCTAssertEqual(set.records.map { ($0.imagePath as NSString).lastPathComponent },
                       ["a, \"quoted\".jpg", "#not a comment.jpg", "plain.jpg"])
        XCTAssertEqual(set.records.map(\.keypoints), [[1, 2], [3, 4], [5, 6]])
        XCTAssertEqual(set.records.map(\.source), [file + ":4", file + ":6", file + ":8"])
    }

    func testMalformedFilesNameFileAndLineAndSayWhatToDo() throws {
        let cases: [(String, [String])] = [
            ("image,x1,y1\na.jpg,1\n", [":2:", "2 columns but the header has 3", "missing or extra comma"]),
            ("image,x1,y1\na.jpg,1,2,3\n", [":2:", "4 columns but the header has 3"]),
            ("image,x1,y1\na.jpg,abc,2\n", [":2:", "x1 = 'abc' is not a number", "pixels"]),
            ("image,x1,y1\na.jpg,0x10,2\n", [":2:", "x1 = '0x10' is not a number"]),
            ("image,x1,y1\n\na.jpg,1,NaN\n", [":3:", "y1 = 'NaN' is not a finite number", "leave x and y empty"]),
            ("image,x1,y1\na.jpg,inf,2\n", [":2:", "x1 = 'inf' is not a finite number"]),
            ("image,x1,y1\na.jpg,1e999,2\n", [":2:", "x1 = '1e999' is not a finite number"]),
            ("image,x1,y1,v1\na.jpg,1,2,3\n", [":2:", "v1 = '3' is not a visibility", "use 0"]),
            ("image,x1,y1,v1\na.jpg,1,2,-1\n", [":2:", "v1 = '-1' is not a visibility"]),
            ("image,x1,y1,v1\na.jpg,1,2,1.5\n", [":2:", "v1 = '1.5' is not a visibility"]),
            ("image,x1,y1,v1\na.jpg,,,2\n", [":2:", "v1 = 2 says labelled", "set the visibility to 0"]),
            ("image,x1,y1\na.jpg,1,\n", [":2:", "x1 is set but y1 is empty", "give both"]),
            ("image,x1,y1\n,1,2\n", [":2:", "image column is empty", "give the image's path"]),
            ("image,x1,y1\na.jpg,1,2\nb.jpg,1,2\n./a.jpg,3,4\n", [":4:", "already labelled at line 2", "one row per image"]),
            ("image,x1,y1\n\"a.jpg,1,2\n", [":2:", "does not close", "close it"]),
            ("image,x1,y1\n\"a\"b.jpg,1,2\n", [":2:", "text after its closing quote", "\"\""]),
            ("x1,y1\na.jpg,1,2\n", [":1:", "no 'image' column", "expected image,x1,y1"]),
            ("file,x1,y1\na.jpg,1,2\n", [":1:", "unknown column 'file'", "expected image"]),
            ("image,x1,y1,x2\n", [":1:", "'x2' has no matching 'y2'", "needs an x and a y"]),
            ("image,y1\n", [":1:", "'y1' has no matching 'x1'"]),
            ("image,nose_x\n", [":1:", "'nose_x' has no matching 'nose_y'"]),
            ("image,x1,y1,v2\n", [":1:", "'v2' has no matching 'x2'"]),
            ("image,x1,y1,x3,y3\n", [":1:", "keypoint 'kp2' has no x and y columns", "without gaps"]),
            ("image,x1,y1,x99999999999999999999999,y2\n", [":1:", "'x99999999999999999999999'", "1...K"]),
            ("image,x1,y1,nose_x,nose_y\n", [":1:", "mixes numbered", "use one style"]),
            ("image,x1,y1,x1\n", [":1:", "'x1' appears twice", "keep one"]),
            ("image,x1,y1,IMAGE\n", [":1:", "two image columns", "keep one"]),
            ("image,x1,,y1\n", [":1:", "column 3 has no name"]),
            ("image\n", [":1:", "no keypoint columns"]),
            ("image,x1,y1\n# nothing yet\n\n", ["has a header but no rows", "add one row per image"]),
            ("\n# empty\n", ["has no header", "image,x1,y1"]),
        ]
        let dir = TempFolder()
        for (i, (text, fragments)) in cases.enumerated() {
            let file = dir.write("bad\(i).csv", text)
            assertDataError(try CSVLabels.read(path: file), ["bad\(i).csv"] + fragments, "case \(i): \(text.debugDescription)")
        }
        let notUTF8 = dir.write("bytes.csv", bytes: Array("image,x1,y1\na.jpg,1,2\n".utf8) + [0xC3, 0x28, 0x2C, 0x31, 0x0A])
        assertDataError(try CSVLabels.read(path: notUTF8), ["bytes.csv:3:", "not UTF-8", "save the file as UTF-8"])
        assertDataError(try CSVLabels.read(path: dir.path + "/missing.csv"), ["missing.csv", "not found", "check the path"])
        assertDataError(try LabelReader.read(path: dir.write("labels.txt", "image,x1,y1\n")),
                        ["labels.txt", "unknown labels format", ".csv"])
    }

    func testSkipBadLeavesOutBadRowsButNotFileLevelProblems() throws {
        let dir = TempFolder()
        let file = dir.write("some.csv", "image,x1,y1\na.jpg,1,2\nb.jpg,x,2\nc.jpg,1\nd.jpg,3,4\na.jpg,5,6\n")
        assertDataError(try CSVLabels.read(path: file), ["some.csv:3:"])
        let (set, skipped) = try LabelReader.read(path: file, skipBad: true)
        XCTAssertEqual(set.records.map { ($0.imagePath as NSString).lastPathComponent }, ["a.jpg", "d.jpg"])
        XCTAssertEqual(skipped.map(\.location), [file + ":3", file + ":4", file + ":6"])

        let allBad = dir.write("allbad.csv", "image,x1,y1\na.jpg,x,2\nb.jpg,1\n")
        assertDataError(try LabelReader.read(path: allBad, skipBad: true), ["allbad.csv", "none of its 2 rows", "allbad.csv:2"])
        let badHeader = dir.write("header.csv", "image,x1\na.jpg,1\n")
        assertDataError(try LabelReader.read(path: badHeader, skipBad: true), ["header.csv:1:", "no matching 'y1'"])
    }

    func testWriterRoundTripsThroughTheReader() throws {
        let dir = TempFolder()
        let names = ["left eye", "right_eye", "a,b \"c\""]
        let records = [
            LabelRecord(imagePath: dir.path + "/img/a.jpg", keypoints: [0.1, 2, 1e-5, -3.25, 12345.678, 7],
                        visibility: [2, 1, 2], source: "x"),
            LabelRecord(imagePath: dir.path + "/img/odd, \"name\".png", keypoints: [0, 0, 4, 5, 6, 7],
                        visibility: [0, 2, 2], source: "x"),
            LabelRecord(imagePath: dir.path + "/#hash.jpg", keypoints: [1, 2, 3, 4, 5, 6], visibility: [2, 2, 2], source: "x"),
            LabelRecord(imagePath: "/elsewhere/b.jpg", keypoints: [1, 2, 3, 4, 5, 6], visibility: [2, 2, 2], source: "x"),
        ]
        let text = CSVLabels.write(records, names: names, relativeTo: dir.path)
        XCTAssertTrue(text.hasPrefix("image,left eye_x,left eye_y,left eye_v,right_eye_x,"), text)
        XCTAssertTrue(text.contains("\nimg/a.jpg,0.1,2.0,2,1e-05,-3.25,1,"), text)
        XCTAssertTrue(text.contains("\n/elsewhere/b.jpg,"), text)
        let (set, _) = try CSVLabels.read(path: dir.write("pred.csv", text))
        XCTAssertEqual(set.description.keypointNames, names)
        XCTAssertEqual(set.records.map(\.imagePath), records.map(\.imagePath))
        XCTAssertEqual(set.records.map(\.keypoints), records.map(\.keypoints))
        XCTAssertEqual(set.records.map(\.visibility), records.map(\.visibility))

        // Default names give numbered columns, and they read back as the same defaults.
        let numbered = CSVLabels.write([records[0]], names: ["kp1", "kp2", "kp3"], relativeTo: dir.path)
        XCTAssertTrue(numbered.hasPrefix("image,x1,y1,v1,x2,y2,v2,x3,y3,v3\n"), numbered)
        let (again, _) = try CSVLabels.read(path: dir.write("numbered.csv", numbered))
        XCTAssertEqual(again.description.keypointNames, ["kp1", "kp2", "kp3"])
        XCTAssertEqual(again.records[0].keypoints, records[0].keypoints)
    }

    func testRandomMutationsGiveRecordsOrADataErrorNeverACrash() {
        let valid = """
            # corners of cards
            image,top_left_x,top_left_y,top_left_v,top_right_x,top_right_y,top_right_v
            a.jpg,1,2,2,3.5,4,1
            "b, c.jpg",5,6,2,,,0
            d.jpg,7,8,,9,10,

            """
        fuzz(Array(valid.utf8), name: "labels.csv", seed: 20_261_129) { bytes, skipBad in
            let (set, skipped) = try CSVLabels.parse(Foundation.Data(bytes), file: "labels.csv",
                                                     imagesRoot: "/data", skipBad: skipBad)
            return (set, skipped)
        }
    }
}

// MARK: - Helpers shared by the label tests

/// A fresh temporary folder, removed when the value goes away.
final class TempFolder {
    let path: String

    init() {
        path = LabelPaths.absolute(NSTemporaryDirectory() + "/label-tests-" + UUID().uuidString)
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` (subfolders created) and returns the file's path.
    @discardableResult
    func write(_ name: String, bytes: [UInt8]) -> String {
        let file = path + "/" + name
        try! FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        try! Foundation.Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    @discardableResult
    func write(_ name: String, _ text: String) -> String { write(name, bytes: Array(text.utf8)) }
}

/// Fails unless `expression` throws a `DataError` whose text ("location: message") contains every
/// fragment; returns the error.
@discardableResult
func assertDataError<T>(_ expression: @autoclosure () throws -> T, _ fragments: [String], _ context: String = "",
                        file: StaticString = #filePath, line: UInt = #line) -> DataError? {
    do {
        _ = try expression()
        XCTFail("\(context) expected a DataError containing \(fragments), got no error", file: file, line: line)
    } catch let error as DataError {
        for fragment in fragments where !error.description.contains(fragment) {
            XCTFail("\(context) error \"\(error)\" does not contain \"\(fragment)\"", file: file, line: line)
        }
        return error
    } catch {
        XCTFail("\(context) expected a DataError, got \(type(of: error)): \(error)", file: file, line: line)
    }
    return nil
}

/// SplitMix64: a tiny seeded generator, so that every fuzz run sees the same mutations.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Applies 300 seeded random mutations (byte flips, deletions, line duplications, truncations, inserted
/// CSV/JSON punctuation) to `valid` and parses each with and without skipBad: every result must be
/// records with K keypoints, finite coordinates and visibility 0...2, or a `DataError`. A failure names
/// the seed and the mutation. A crash cannot be caught: rerun with FUZZ_TRACE=1 to print each mutation
/// before it is parsed (the sequence is the same on every run).
func fuzz(_ valid: [UInt8], name: String, seed: UInt64, count: Int = 300,
          file: StaticString = #filePath, line: UInt = #line,
          parse: ([UInt8], Bool) throws -> (LabelSet, [DataError])) {
    var rng = SeededGenerator(state: seed)
    let trace = ProcessInfo.processInfo.environment["FUZZ_TRACE"] != nil
    var outcomes = (records: 0, errors: 0)
    for i in 0..<count {
        var bytes = valid
        var steps: [String] = []
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard !bytes.isEmpty else { break }
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0:
                let value = UInt8.random(in: 0...255, using: &rng)
                steps.append("byte \(at) := \(value)"); bytes[at] = value
            case 1:
                let n = Int.random(in: 1...min(8, bytes.count - at), using: &rng)
                steps.append("delete \(n) at \(at)"); bytes.removeSubrange(at..<(at + n))
            case 2:
                var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
                let l = Int.random(in: 0..<lines.count, using: &rng)
                steps.append("duplicate line \(l + 1)"); lines.insert(lines[l], at: l)
                bytes = Array(lines.joined(separator: [0x0A]))
            case 3:
                steps.append("truncate at \(at)"); bytes.removeSubrange(at...)
            default:
                let punctuation = Array(",\"\n\r#:[]{}-.0e".utf8)
                let value = punctuation[Int.random(in: 0..<punctuation.count, using: &rng)]
                steps.append("insert \(Unicode.Scalar(value).escaped(asASCII: true)) at \(at)"); bytes.insert(value, at: at)
            }
        }
        let mutation = "\(name) fuzz seed \(seed) mutation \(i): \(steps.joined(separator: ", "))"
        if trace { FileHandle.standardError.write(Foundation.Data((mutation + "\n").utf8)) }   // unbuffered: survives a crash
        for skipBad in [false, true] {
            do {
                let (set, _) = try parse(bytes, skipBad)
                let k = set.description.keypointCount
                XCTAssertFalse(set.records.isEmpty, "\(mutation): no records but no error", file: file, line: line)
                for r in set.records where r.keypoints.count != 2 * k || r.visibility.count != k
                    || !r.keypoints.allSatisfy(\.isFinite) || !r.visibility.allSatisfy({ $0 <= 2 }) {
                    XCTFail("\(mutation): bad record \(r)", file: file, line: line)
                }
                outcomes.records += 1
            } catch is DataError {
                outcomes.errors += 1
            } catch {
                XCTFail("\(mutation) (skipBad \(skipBad)): threw \(type(of: error)) \(error), not a DataError",
                        file: file, line: line)
            }
        }
    }
    // Both outcomes must occur, or the mutations are not exercising the parser.
    XCTAssertGreaterThan(outcomes.records, 20, "\(name): too few mutations parse", file: file, line: line)
    XCTAssertGreaterThan(outcomes.errors, 20, "\(name): too few mutations fail", file: file, line: line)
}
