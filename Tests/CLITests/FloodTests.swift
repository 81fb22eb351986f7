// Floods against a live coordinator, measured by its peak resident memory (VmHWM in /proc): peers
// without a key send the multipart flood that once took the coordinator from 46 to 582 MiB (3
// messages of 200 frames x 1.5 MB each), and a peer holding an authorized key sends oversized
// multipart messages and a stream of hellos. The figures are printed for the README; the test
// holds the coordinator to the bounds docs/SECURITY.md states.
import Cluster
import Foundation
import XCTest

final class FloodTests: XCTestCase {
    /// Peak and current resident memory of `pid`, MiB.
    private func memory(_ pid: Int32) -> (peak: Double, now: Double) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Double {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
        }
        return (field("VmHWM"), field("VmRSS"))
    }

    func testFloodsDoNotGrowTheCoordinatorBeyondItsBounds() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "16", "--size", "64"]).status, 0)
        for (folder, name) in [("keys", "coordinator"), ("keys/workers", "rogue"), ("keys/workers", "honest")] {
            XCTAssertEqual(try BinaryRunner.run(["keygen", "--out", root.appendingPathComponent(folder).path, "--name", name]).status, 0)
        }
        let keys = root.appendingPathComponent("keys")
        let endpoint = "tcp://127.0.0.1:\(Int.random(in: 20_000..<60_000))"
        let coordinator = try Background(["coordinator", "--bind", endpoint, "--curve-secret", keys.appendingPathComponent("coordinator.key").path,
                                          "--authorized-keys", keys.appendingPathComponent("workers").path,
                                          "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25",
                                          "--input-size", "96", "--batch-size", "4", "--micro-batch", "2", "--steps", "2",
                                          "--out", root.appendingPathComponent("run").path],
                                         log: root.appendingPathComponent("coordinator.log"))
        XCTAssertTrue(coordinator.wait(for: "listening on"), coordinator.output)
        let pid = coordinator.process.processIdentifier
        usleep(500_000)
        let before = memory(pid)
        let context = ZMQContext()
        let chunk = SharedBytes(Foundation.Data(repeating: 7, count: 1_500_000))
        let flood = WireCodec.encode(Message(kind: .gradients)) + Array(repeating: Frame.shared(chunk), count: 200)

        // 1. Four peers without a key, each sending the flood three times and 50 hellos.
        var strangers: [ZMQSocket] = []
        for i in 0..<4 {
            let s = try ZMQSocket(context, kind: .dealer)
            try s.setRoutingID("stranger-\(i)")
            try s.connect(endpoint)
            strangers.append(s)
        }
        for s in strangers {
            for _ in 0..<3 { try s.send(flood, wait: false) }
            for _ in 0..<50 { try s.send(WireCodec.encode(try Message(kind: .hello, HelloFields(name: "x", host: "x", threads: 1, pid: 1))), wait: false) }
        }
        sleep(5)
        let afterStrangers = memory(pid)

        // 2. A peer with an authorized key: 20 messages announcing no bulk but carrying 200 frames
        // of 100 kB (each frame under the largest a gradient may be), then 100 hellos.
        let rogueKeys = try CurveKeyPair.read(keys.appendingPathComponent("workers/rogue.key").path)
        let serverKey = try XCTUnwrap(try CurveKeyPair.read(keys.appendingPathComponent("coordinator.pub").path).publicKey)
        let rogue = try ZMQSocket(context, kind: .dealer)
        try rogue.setRoutingID("rogue")
        try rogue.makeCurveClient(CurveKeyPair(secretKey: XCTUnwrap(rogueKeys.secretKey)), serverKey: serverKey)
        try rogue.connect(endpoint)
        let small = SharedBytes(Foundation.Data(repeating: 7, count: 100_000))
        let admittedFlood = WireCodec.encode(Message(kind: .gradients)) + Array(repeating: Frame.shared(small), count: 200)
        for _ in 0..<20 { try rogue.send(admittedFlood) }
        for _ in 0..<100 { try rogue.send(WireCodec.encode(try Message(kind: .hello, HelloFields(name: "rogue", host: "x", threads: 1, pid: 1)))) }
        sleep(5)
        let afterRogue = memory(pid)

        // Training still runs: an honest worker joins and the run ends.
        let honest = try Background(["worker", "--connect", endpoint, "--name", "honest",
                                     "--curve-secret", keys.appendingPathComponent("workers/honest.key").path,
                                     "--server-key", keys.appendingPathComponent("coordinator.pub").path],
                                    log: root.appendingPathComponent("honest.log"))
        XCTAssertEqual(coordinator.finish(timeout: 120), 0, coordinator.output)
        XCTAssertEqual(honest.finish(timeout: 20), 0, honest.output)
        let log = coordinator.output
        print(String(format: "flood: coordinator peak RSS %.0f MiB at rest; %.0f MiB after 4 keyless peers sent 3.6 GB in "
                     + "multipart floods and 200 hellos; %.0f MiB after a peer with an authorized key sent 20 x 20 MB "
                     + "malformed messages and 100 hellos", before.peak, afterStrangers.peak, afterRogue.peak))
        XCTAssertLessThan(afterStrangers.peak - before.peak, 16, "peers without a key grew the coordinator")
        XCTAssertLessThan(afterRogue.peak - before.peak, 256, "an admitted peer grew the coordinator past the bound")
        XCTAssertTrue(log.contains("muted rogue"), log)
        XCTAssertTrue(log.contains("dropped a malformed message from rogue"), log)
        XCTAssertTrue(log.contains("worker honest joined"), log)
        XCTAssertFalse(log.contains("worker stranger"), log)
    }
}
