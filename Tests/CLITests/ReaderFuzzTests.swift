// Seeded fuzzing of every reader of the files a user hands over, run through the shipped binary
// (scripts/test.sh points KEYPOINTS_BIN at the release build): checkpoints (`keypoints checkpoints`,
// the resume scan), saved models' weights and manifests (`keypoints predict --model`), and dataset
// descriptions (`keypoints augment-preview --data`). Each mutated file must give a clean error or
// a clean result, never a trap or a crash. Besides random byte flips and cuts, each safetensors
// file gets the header edits that once trapped: a negative dimension, a shape whose product
// overflows, reversed offsets.
import Compute
import Foundation
import TestSupport
import XCTest

final class ReaderFuzzTests: XCTestCase {
    nonisolated(unsafe) private static var root: URL!

    /// One tiny trained run, shared by the tests: its checkpoint, saved model and the dataset files.
    override class func setUp() {
        super.setUp()
        root = try! BinaryRunner.temporaryDirectory()
        let cards = root.appendingPathComponent("cards")
        _ = try! BinaryRunner.run(["synth", "--out", cards.path, "--count", "8", "--size", "64"])
        _ = try! BinaryRunner.run(["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25",
                                   "--input-size", "96", "--batch-size", "4", "--micro-batch", "2", "--steps", "1",
                                   "--out", root.appendingPathComponent("run").path])
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: root)
        super.tearDown()
    }

    private var run: URL { Self.root.appendingPathComponent("run") }

    /// Mutations of `good`: byte flips, cuts, runs of 0xFF and inserted bytes, drawn from `rng`.
    private func mutate(_ good: Foundation.Data, _ rng: inout SplitMix64) -> Foundation.Data {
        var bad = good
        let at = Int(rng.next() % UInt64(max(good.count, 1)))
        switch rng.next() % 4 {
        case 0: bad[at] ^= UInt8(1 + rng.next() % 255)
        case 1: bad = bad.prefix(at)
        case 2: bad.replaceSubrange(at..<min(at + 8, bad.count), with: [UInt8](repeating: 0xFF, count: min(8, bad.count - at)))
        default: bad.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
        }
        return bad
    }

    /// `good` (safetensors) with the first tensor's header entry edited by `edit`, the header
    /// length kept consistent.
    private func editHeader(_ good: Foundation.Data, _ edit: (inout [String: Any]) -> Void) throws -> Foundation.Data {
        let length = Int(good.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try XCTUnwrap(try JSONSerialization.jsonObject(with: good.subdata(in: 8..<(8 + length))) as? [String: Any])
        let name = try XCTUnwrap(header.keys.sorted().first { $0 != "__metadata__" })
        var entry = try XCTUnwrap(header[name] as? [String: Any])
        edit(&entry)
        header[name] = entry
        let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var out = Foundation.Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json + good.subdata(in: (8 + length)..<good.count)
    }

    /// The header edits that passed validation and then trapped before it checked them.
    private func trappingEdits(_ good: Foundation.Data) throws -> [Foundation.Data] {
        try [
            editHeader(good) { $0["shape"] = [-4, 2] },
            editHeader(good) { $0["shape"] = [Int.max / 2, 4] },
            editHeader(good) { e in
                let o = e["data_offsets"] as! [Int]
                e["data_offsets"] = [o[1], o[0]]
                e["shape"] = [-(o[1] - o[0]) / 4]
            },
            editHeader(good) { $0["dtype"] = "F16" },
            editHeader(good) { $0["data_offsets"] = [0, Int.max] },
        ]
    }

    /// Runs `arguments` on each of `files` written to `target`; every run must end by itself
    /// (no signal) with a status in `allowed`, and a failing one must name `target`'s file.
    private func expectCleanErrors(_ files: [Foundation.Data], at target: URL, allowed: Set<Int32>, _ arguments: [String],
                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let good = try Foundation.Data(contentsOf: target)
        defer { try? good.write(to: target) }
        for (i, bytes) in files.enumerated() {
            try bytes.write(to: target)
            let r = try BinaryRunner.run(arguments)
            XCTAssertFalse(r.killedBySignal, "input \(i): the binary died of signal \(r.status): \(r.stderr.suffix(600))", file: file, line: line)
            XCTAssertTrue(allowed.contains(r.status), "input \(i): exit \(r.status): \(r.stderr.suffix(400))", file: file, line: line)
            if r.status != 0 {
                XCTAssertTrue((r.stdout + r.stderr).contains(target.lastPathComponent), "input \(i): the error does not name the file: "
                              + (r.stdout + r.stderr).suffix(400), file: file, line: line)
            }
        }
    }

    func testMutatedCheckpointsAreReportedDamagedNeverTrap() throws {
        var rng = FuzzSeed.generator(20261202)
        let checkpoint = try XCTUnwrap(try FileManager.default.contentsOfDirectory(at: run.appendingPathComponent("checkpoints"),
                                                                                     includingPropertiesForKeys: nil).first)
        let good = try Foundation.Data(contentsOf: checkpoint)
        let inputs = try trappingEdits(good) + (0..<40).map { _ in mutate(good, &rng) }
        // Every change to a v3 checkpoint is caught by its whole-file checksum, if not before.
        try expectCleanErrors(inputs, at: checkpoint, allowed: [1], ["checkpoints", run.path])
    }

    func testMutatedSavedModelWeightsAndManifestsGiveCleanErrors() throws {
        var rng = FuzzSeed.generator(20261203)
        let model = run.appendingPathComponent("last")
        let image = Self.root.appendingPathComponent("cards/images").path
        let weights = model.appendingPathComponent("model.safetensors"), manifest = model.appendingPathComponent("model.json")
        let goodWeights = try Foundation.Data(contentsOf: weights)
        // A flip inside a float's bytes is a valid model with other weights: exit 0 is allowed.
        try expectCleanErrors(try trappingEdits(goodWeights) + (0..<25).map { _ in mutate(goodWeights, &rng) }, at: weights,
                              allowed: [0, 1], ["predict", "--model", model.path, image])
        let goodManifest = try Foundation.Data(contentsOf: manifest)
        let text = String(decoding: goodManifest, as: UTF8.self)
        let crafted = [text.replacingOccurrences(of: "\"keypoints\" : 4", with: "\"keypoints\" : -3"),
                       text.replacingOccurrences(of: "\"keypoints\" : 4", with: "\"keypoints\" : 100000000000"),
                       text.replacingOccurrences(of: "\"inputSize\" : 96", with: "\"inputSize\" : -96"),
                       text.replacingOccurrences(of: "\"hidden\" : 1024", with: "\"hidden\" : 999999999999")]
            .map { Foundation.Data($0.utf8) }
        XCTAssertTrue(crafted.allSatisfy { $0 != goodManifest }, "a crafted manifest edit matched nothing: \(text)")
        try expectCleanErrors(crafted + (0..<25).map { _ in mutate(goodManifest, &rng) }, at: manifest, allowed: [0, 1],
                              ["predict", "--model", model.path, image])
    }

    func testMutatedDatasetDescriptionsGiveCleanErrors() throws {
        var rng = FuzzSeed.generator(20261204)
        let description = Self.root.appendingPathComponent("cards/labels.keypoints.json")
        let good = try Foundation.Data(contentsOf: description)
        let out = Self.root.appendingPathComponent("preview.png").path
        try expectCleanErrors((0..<30).map { _ in mutate(good, &rng) }, at: description, allowed: [0, 1, 64],
                              ["augment-preview", "--data", Self.root.appendingPathComponent("cards/labels.csv").path,
                               "--input-size", "96", "--count", "2", "--out", out])
    }
}
