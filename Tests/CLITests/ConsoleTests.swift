// What a long-running command prints: timestamped lines through a pipe, the levels of --quiet and
// --verbose, and in a real pseudo-terminal (util-linux `script`) a progress bar redrawn in place.
import Foundation
import TestSupport
import XCTest

final class ConsoleTests: XCTestCase {
    private var dir: URL!
    private var labels: String { dir.appendingPathComponent("cards/labels.csv").path }

    override func setUpWithError() throws {
        dir = try BinaryRunner.temporaryDirectory()
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", dir.appendingPathComponent("cards").path, "--count", "24", "--size", "64"]).status, 0)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func train(_ name: String, _ extra: [String]) throws -> RunResult {
        let r = try BinaryRunner.run(["train", "--data", labels, "--alpha", "0.25", "--input-size", "96", "--hidden", "8",
                                      "--epochs", "2", "--batch-size", "8", "--log-every", "1", "--out", dir.appendingPathComponent(name).path] + extra)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        return r
    }

    private let stamp = try! NSRegularExpression(pattern: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#)
    private func stamped(_ line: Substring) -> Bool {
        stamp.firstMatch(in: String(line), range: NSRange(line.startIndex..., in: line)) != nil
    }

    func testPipedLinesAreTimestampedAndLevelsFilter() throws {
        let normal = try train("normal", []).stdout.split(separator: "\n")
        XCTAssertFalse(normal.isEmpty)
        XCTAssertTrue(normal.allSatisfy(stamped), "every line through a pipe starts with a UTC timestamp:\n\(normal.joined(separator: "\n"))")
        XCTAssertTrue(normal.contains { $0.contains(" step 2/") } && normal.contains { $0.contains(" epoch   1 ") })

        let quiet = try train("quiet", ["--quiet"]).stdout
        XCTAssertFalse(quiet.contains(" step ") || quiet.contains(" epoch   1 ") || quiet.contains("checkpoint:"), quiet)
        XCTAssertTrue(quiet.contains("final validation:") && quiet.contains("saved model to"), "results are shown with --quiet:\n\(quiet)")

        let verbose = try train("verbose", ["-v"]).stdout
        XCTAssertTrue(verbose.contains("step 1  loss ") && verbose.contains(" = compute "), "--verbose adds each step's time split:\n\(verbose)")
        let bad = try BinaryRunner.run(["train", "--data", labels, "--quiet", "--verbose"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("--quiet and --verbose cannot go together"), bad.stderr)
    }

    func testTerminalGetsABarRedrawnInPlaceAndNoTimestamps() throws {
        let script = URL(fileURLWithPath: "/usr/bin/script")
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            throw Requirement.unavailable("util-linux's script(1) is missing, so no pseudo-terminal can be made for the progress bar check")
        }
        let command = ([BinaryRunner.binary.path, "train", "--data", labels, "--alpha", "0.25", "--input-size", "96", "--hidden", "8",
                        "--epochs", "2", "--batch-size", "8", "--out", dir.appendingPathComponent("tty").path])
            .map { "'\($0)'" }.joined(separator: " ")
        let r = try runChild(script, ["-qec", command, "/dev/null"], environment: ["OMP_WAIT_POLICY": "passive", "COLUMNS": "120"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("\r\u{1B}[Kstep 6/6 [########################] 100%"), "no finished bar:\n\(r.stdout.debugDescription)")
        XCTAssertTrue(r.stdout.contains("\r\u{1B}[Kepoch   2 "), "the bar is cleared before an epoch line")
        XCTAssertFalse(r.stdout.contains("step 2/6  epoch"), "no step lines on a terminal: the bar replaces them")
        XCTAssertFalse(r.stdout.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).contains(where: stamped), "no timestamps on a terminal")
    }
}
