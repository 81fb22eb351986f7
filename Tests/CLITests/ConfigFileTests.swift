// End-to-end tests of `--config FILE.yaml`: keys are flags, the command line wins, RUN/config.yaml
// replays a run bit for bit, and a bad file is an error naming the file, the line and the fix.
import Foundation
import XCTest

final class ConfigFileTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try BinaryRunner.temporaryDirectory()
        let synth = try BinaryRunner.run(["synth", "--out", dir.appendingPathComponent("cards").path, "--count", "24", "--size", "64"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func write(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    private func record(_ run: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("config.json"))) as? [String: Any])
    }

    func testFileGivesFlagsAndTheCommandLineWins() throws {
        let config = try write("small.yaml", """
            # a small run
            data: \(dir.appendingPathComponent("cards/labels.csv").path)
            alpha: 0.25
            input-size: 96
            hidden: 16
            epochs: 3
            batch-size: 8
            lr: 0.002
            no-augment: true
            skip-bad: false
            describe:
            quiet: true
            """)
        let run = dir.appendingPathComponent("run")
        // --verbose on the command line wins over the file's quiet: true (they cannot go together).
        let r = try BinaryRunner.run(["train", "--config", config, "--epochs", "1", "--verbose", "--out", run.path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let training = try XCTUnwrap((try record(run)["config"] as? [String: Any])?["training"] as? [String: Any])
        XCTAssertEqual(training["epochs"] as? Int, 1, "--epochs on the command line wins over the file's 3")
        XCTAssertEqual(training["batchSize"] as? Int, 8)
        XCTAssertEqual(try XCTUnwrap(training["learningRate"] as? Double), 0.002, accuracy: 1e-9)
        let ended = try XCTUnwrap(try record(run)["ended"] as? [String: Any], "config.json says how the run ended")
        XCTAssertEqual(ended["how"] as? String, "finished")
        XCTAssertEqual(ended["epochs"] as? Int, 1)
        let arguments = try XCTUnwrap(try record(run)["arguments"] as? [String])
        XCTAssertTrue(arguments.contains("--no-augment"), "\(arguments)")
        XCTAssertFalse(arguments.contains("--skip-bad"), "skip-bad: false sets nothing: \(arguments)")
        XCTAssertFalse(arguments.contains { $0.hasPrefix("--describe") }, "an empty value sets nothing: \(arguments)")
        // The recorded file lists every setup flag, with the run's values and the defaults.
        let yaml = try String(contentsOf: run.appendingPathComponent("config.yaml"), encoding: .utf8)
        for line in ["epochs: 1", "lr: 0.002", "no-augment: true", "skip-bad: false", "optimizer: adam", "# val:"] {
            XCTAssertTrue(yaml.split(separator: "\n").contains(Substring(line)), "config.yaml lacks '\(line)':\n\(yaml)")
        }
        XCTAssertFalse(yaml.contains("\nout:") || yaml.contains("\nresume:") || yaml.contains("\nsteps:"),
                       "where a run lives is not its configuration:\n\(yaml)")
    }

    func testRecordedConfigReplaysTheRunBitForBit() throws {
        let first = dir.appendingPathComponent("first"), replay = dir.appendingPathComponent("replay")
        let r = try BinaryRunner.run(["train", "--data", dir.appendingPathComponent("cards/labels.csv").path, "--alpha", "0.25",
                                      "--input-size", "96", "--hidden", "16", "--epochs", "2", "--batch-size", "8",
                                      "--lr", "0.003", "--rotation", "9", "--out", first.path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let again = try BinaryRunner.run(["train", "--config", first.appendingPathComponent("config.yaml").path, "--out", replay.path])
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        let a = try record(first), b = try record(replay)
        XCTAssertEqual(try JSONSerialization.data(withJSONObject: a["config"]!, options: .sortedKeys),
                       try JSONSerialization.data(withJSONObject: b["config"]!, options: .sortedKeys), "the replay's configuration differs")
        XCTAssertEqual(try Data(contentsOf: first.appendingPathComponent("last/model.safetensors")),
                       try Data(contentsOf: replay.appendingPathComponent("last/model.safetensors")),
                       "the replayed run's weights differ from the original's")
        // The replay resumes like any run.
        let resumed = try BinaryRunner.run(["train", "--resume", replay.path, "--epochs", "3"])
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        let yaml = try String(contentsOf: replay.appendingPathComponent("config.yaml"), encoding: .utf8)
        XCTAssertTrue(yaml.contains("\nepochs: 2\n") && yaml.contains("It was extended to 3 epochs on resume"),
                      "an extended run's config.yaml keeps the epochs its schedule was made for and says it was extended:\n\(yaml)")
    }

    /// `--out` on the command line drops the file's `resume` (they cannot go together) but not its
    /// `overwrite`: the same command twice starts the run afresh twice.
    func testCommandLineOutKeepsTheFilesOverwrite() throws {
        let config = try write("again.yaml", """
            data: \(dir.appendingPathComponent("cards/labels.csv").path)
            alpha: 0.25
            input-size: 96
            hidden: 8
            epochs: 1
            batch-size: 8
            overwrite: true
            resume: /nonexistent
            """)
        for _ in 0..<2 {
            let r = try BinaryRunner.run(["train", "--config", config, "--out", dir.appendingPathComponent("again").path])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        }
    }

    func testBadFilesAreErrorsNamingFileLineAndFix() throws {
        let cases: [(String, String)] = [
            ("epochs: 2\nlrr: 0.01\n", "bad.yaml:2: unknown key 'lrr': keypoints train has no --lrr; did you mean 'lr'?"),
            ("batch_size: 8\n", "did you mean 'batch-size'?"),
            ("zzzzzz: 1\n", "`keypoints train --help` lists them"),
            ("epochs: [1, 2]\n", "bad.yaml:1: 'epochs' takes one value, not a list"),
            ("overwrite: maybe\n", "bad.yaml:1: 'overwrite' is a flag: give true or false"),
            ("alpha:\n  a: 1\n", "'alpha' takes a value (a number, word or path), not a mapping"),
            ("epochs: 1\nepochs: 2\n", "epochs appear more than once"),
            ("epochs: 1\n  bad: [\n", "is not valid YAML: line 2"),
            ("- 1\n- 2\n", "must be a mapping of flag names to values"),
            ("config: other.yaml\n", "a config file cannot name another one"),
        ]
        for (text, expected) in cases {
            let path = try write("bad.yaml", text)
            let r = try BinaryRunner.run(["train", "--config", path, "--out", dir.appendingPathComponent("never").path])
            XCTAssertNotEqual(r.status, 0, "accepted:\n\(text)")
            XCTAssertTrue(r.stderr.contains(expected), "for\n\(text)\nexpected '\(expected)' in: \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("never").path), "a run folder was made")
        }
        // A value the flag refuses is named with the file's line.
        let value = try BinaryRunner.run(["train", "--config", try write("bad.yaml", "alpha: 0.25\nepochs: three\n"), "--data", "x.csv"])
        XCTAssertNotEqual(value.status, 0)
        XCTAssertTrue(value.stderr.contains("note: --epochs came from \(dir.appendingPathComponent("bad.yaml").path):2 (--config)"), value.stderr)
        let missing = try BinaryRunner.run(["train", "--config", dir.appendingPathComponent("nope.yaml").path])
        XCTAssertTrue(missing.stderr.contains("nope.yaml: no such file"), missing.stderr)
        let early = try BinaryRunner.run(["--config", dir.appendingPathComponent("bad.yaml").path, "train"])
        XCTAssertTrue(early.stderr.contains("give it after the subcommand"), early.stderr)
    }
}
