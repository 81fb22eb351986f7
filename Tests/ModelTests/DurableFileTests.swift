// Files that survive crashes and full disks: a saved model is replaced as a unit, a full disk
// leaves the previous model whole and no temporary behind, an append that does not fit leaves no
// torn record, and temporaries of dead processes are removed while those of live ones are kept.
import Foundation
import Model
import TestSupport
import XCTest
import ModelFiles

final class DurableFileTests: XCTestCase {
    private func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("durable-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testAFolderIsReplacedAsAUnit() throws {
        let root = try temporaryFolder(), model = root.appendingPathComponent("last")
        try DurableFile.replaceFolder(model) { try DurableFile.writeAndSync(Foundation.Data("one".utf8), to: $0.appendingPathComponent("a")) }
        try DurableFile.replaceFolder(model) { folder in
            try DurableFile.writeAndSync(Foundation.Data("two".utf8), to: folder.appendingPathComponent("a"))
            try DurableFile.writeAndSync(Foundation.Data("three".utf8), to: folder.appendingPathComponent("b"))
        }
        XCTAssertEqual(try String(contentsOf: model.appendingPathComponent("a"), encoding: .utf8), "two")
        XCTAssertEqual(try String(contentsOf: model.appendingPathComponent("b"), encoding: .utf8), "three")
        // A fill that fails leaves the folder as it was, and nothing else.
        struct Stop: Error {}
        XCTAssertThrowsError(try DurableFile.replaceFolder(model) { _ in throw Stop() })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.path), ["last"])
        XCTAssertEqual(try String(contentsOf: model.appendingPathComponent("a"), encoding: .utf8), "two")
    }

    func testAFullDiskLeavesTheSavedModelWholeAndNoTemporary() throws {
        let network = try smallNetworkWithStatistics(seed: 5, dropout: 0)
        let probe = try temporaryFolder()
        try SavedModel.save(network, to: probe.appendingPathComponent("m"))
        let weights = try FileManager.default.attributesOfItem(
            atPath: probe.appendingPathComponent("m/\(SavedModel.weightsFile)").path)[.size] as! Int
        let disk = try SmallDisk(bytes: weights * 3 / 2 + 64 << 10)
        let last = disk.url.appendingPathComponent("last")
        try SavedModel.save(network, to: last)
        let saved = network.store.parameters.array
        network.store.parameters.base[0] += 1
        XCTAssertThrowsError(try SavedModel.save(network, to: last)) {
            XCTAssertTrue("\($0)".contains("No space left") && "\($0)".contains("free some space"), "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: disk.url.path), ["last"], "a temporary was left")
        XCTAssertEqual(try SavedModel.load(from: last).store.parameters.array, saved, "the previous model was damaged")
    }

    func testAnAppendThatDoesNotFitLeavesNoTornRecord() throws {
        let disk = try SmallDisk(bytes: 1 << 20)
        let log = try AppendingFile(disk.url.appendingPathComponent("metrics.jsonl"))
        try log.append(Foundation.Data("{\"step\":1}\n".utf8))
        try disk.fill(leaving: 0)
        let record = Foundation.Data(repeating: 0x41, count: 256 << 10) + Foundation.Data("\n".utf8)
        XCTAssertThrowsError(try log.append(record)) { XCTAssertTrue(($0 as? DurableWriteError)?.isFull ?? false, "\($0)") }
        XCTAssertEqual(try String(contentsOf: log.url, encoding: .utf8), "{\"step\":1}\n")
    }

    func testTemporariesOfDeadProcessesAreRemovedAndThoseOfLiveOnesKept() throws {
        let root = try temporaryFolder()
        // A process that has exited: its pid is free (until reused, which is why it is reaped first).
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = ".tmp-\(child.processIdentifier)-7-ckpt-000000003.safetensors"
        let live = ".tmp-\(getppid())-7-last"
        let mine = ".tmp-\(getpid())-7-best"
        for name in [dead, live, mine, "ckpt-000000002.safetensors"] {
            FileManager.default.createFile(atPath: root.appendingPathComponent(name).path, contents: Foundation.Data())
        }
        XCTAssertEqual(DurableFile.removeStaleTemporaries(in: root), [dead])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: root.path)),
                       [live, mine, "ckpt-000000002.safetensors"])
    }
}
