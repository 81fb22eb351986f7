// A live coordinator under a stream of mutated protocol messages from rogue peers (loopback,
// --insecure, so that they reach the parser): every one is dropped or ignored, and training ends
// with the undisturbed weights.
import Cluster
import Foundation
import TestSupport
import XCTest

final class HostileInputTests: XCTestCase {
    /// Loopback is reachable by every local user: a coordinator refuses to bind it without keys
    /// unless told --insecure (and then warns), and a worker refuses to connect without keys.
    func testEveryBindNeedsKeysUnlessInsecureIsGiven() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let refused = try BinaryRunner.run(["coordinator", "--bind", "tcp://127.0.0.1:5999", "--data", "x.csv",
                                            "--out", root.appendingPathComponent("run").path])
        XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("needs CURVE keys") && refused.stderr.contains("keypoints keygen"), refused.stderr)
        let worker = try BinaryRunner.run(["worker", "--connect", "tcp://127.0.0.1:5999"])
        XCTAssertEqual(worker.status, 64, worker.stdout + worker.stderr)
        XCTAssertTrue(worker.stderr.contains("--curve-secret") && worker.stderr.contains("--insecure"), worker.stderr)
        // With --insecure it starts, says who can reach it, and fails only on the missing labels.
        let open = try BinaryRunner.run(["coordinator", "--bind", "tcp://127.0.0.1:5999", "--insecure", "--data", "missing.csv",
                                         "--out", root.appendingPathComponent("run").path])
        XCTAssertTrue(open.stdout.contains("warning: --insecure") && open.stdout.contains("any local user"), open.stdout)
        XCTAssertNotEqual(open.status, 0)
    }

    /// A --server-key path of 40 Z85 characters (as `mktemp -d` makes one time in many) is read
    /// as the file it is, not taken for the key itself.
    func testAServerKeyPathThatLooksLikeAKeyIsReadAsAFile() throws {
        let folder = "/tmp/kp" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(17))
        let pub = folder + "/coordinator.pub"
        XCTAssertEqual(pub.count, 40)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for name in ["coordinator", "w1"] { XCTAssertEqual(try BinaryRunner.run(["keygen", "--out", folder, "--name", name]).status, 0) }
        try FileManager.default.createDirectory(atPath: folder + "/workers", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: folder + "/w1.pub", toPath: folder + "/workers/w1.pub")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", folder + "/cards", "--count", "8", "--size", "64"]).status, 0)
        let endpoint = "tcp://127.0.0.1:\(Int.random(in: 20_000..<60_000))"
        let coordinator = try Background(["coordinator", "--bind", endpoint, "--curve-secret", folder + "/coordinator.key",
                                          "--authorized-keys", folder + "/workers", "--data", folder + "/cards/labels.csv",
                                          "--alpha", "0.25", "--input-size", "96", "--batch-size", "4", "--micro-batch", "2",
                                          "--steps", "1", "--out", folder + "/run"], log: URL(fileURLWithPath: folder + "/c.log"))
        let worker = try Background(["worker", "--connect", endpoint, "--name", "w1", "--curve-secret", folder + "/w1.key",
                                     "--server-key", pub], log: URL(fileURLWithPath: folder + "/w.log"))
        XCTAssertEqual(coordinator.finish(timeout: 60), 0, coordinator.output)
        XCTAssertEqual(worker.finish(timeout: 20), 0, worker.output)
        XCTAssertTrue(coordinator.output.contains("worker w1 joined"), coordinator.output)
    }

    func testMutatedMessagesToALiveCoordinatorChangeNothing() throws {
        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "16", "--size", "64"]).status, 0)
        func flags(_ out: String) -> [String] {
            ["--data", cards.appendingPathComponent("labels.csv").path, "--val-fraction", "0.2", "--alpha", "0.25",
             "--input-size", "96", "--hidden", "8", "--batch-size", "4", "--micro-batch", "2", "--epochs", "2",
             "--seed", "4", "--step-deadline", "3", "--out", root.appendingPathComponent(out).path]
        }
        XCTAssertEqual(try BinaryRunner.run(["train"] + flags("reference")).status, 0)
        let endpoint = "tcp://127.0.0.1:\(Int.random(in: 20_000..<60_000))"
        let coordinator = try Background(["coordinator", "--bind", endpoint, "--insecure"] + flags("attacked"),
                                         log: root.appendingPathComponent("coordinator.log"))
        let worker = try Background(["worker", "--connect", endpoint, "--name", "honest", "--insecure"], log: root.appendingPathComponent("w.log"))

        // Valid messages of every kind, then mutated: bytes flipped, frames cut, frames added.
        let valid: [[Foundation.Data]] = try [
            Message(kind: .hello, HelloFields(name: "rogue", host: "x", threads: 1, pid: 1)),
            Message(kind: .gradients, step: 1, GradientFields(microBatch: 0, lossSum: 1, labelled: 2, samples: 1,
                                                              hasStatistics: false, failures: [], computeSeconds: 0),
                    bulk: [.bytes(Foundation.Data(repeating: 7, count: 40))]),
            Message(kind: .heartbeat), Message(kind: .bye), Message(kind: .weights, step: 3),
            Message(kind: .work, step: 2, WorkFields(epoch: 0, microBatch: 1, indices: [1, 2])),
        ].map { WireCodec.encode($0).map(\.data) }
        // Seeded (printed; KEYPOINTS_FUZZ_SEED replays or varies it). Which message the coordinator
        // reads first still depends on timing, so a failure replays the mutations, not the interleaving.
        var rng = FuzzSeed.generator(20261205)
        let context = ZMQContext()
        var sockets: [ZMQSocket] = []
        for i in 0..<4 {
            let s = try ZMQSocket(context, kind: .dealer)
            try s.setRoutingID("rogue-\(i)")
            try s.connect(endpoint)
            sockets.append(s)
        }
        var sent = 0
        while coordinator.process.isRunning && sent < 600 {
            var frames = valid.randomElement(using: &rng)!
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:
                let f = Int.random(in: 0..<frames.count, using: &rng)
                if !frames[f].isEmpty { frames[f][Int.random(in: 0..<frames[f].count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
            case 1: frames[0] = frames[0].prefix(Int.random(in: 0...frames[0].count, using: &rng))
            case 2: frames.append(Foundation.Data((0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }))
            default: break // sent as is: valid but unrequested
            }
            _ = try sockets[sent % 4].send(frames.map { Frame.bytes($0) })
            sent += 1
            usleep(5_000)
        }
        XCTAssertEqual(coordinator.finish(), 0, coordinator.output)
        XCTAssertEqual(worker.finish(timeout: 20), 0, worker.output)
        XCTAssertTrue(coordinator.output.contains("dropped"), coordinator.output)
        XCTAssertEqual(try Foundation.Data(contentsOf: root.appendingPathComponent("attacked/last/model.safetensors")),
                       try Foundation.Data(contentsOf: root.appendingPathComponent("reference/last/model.safetensors")),
                       "hostile messages changed the weights")
    }
}
