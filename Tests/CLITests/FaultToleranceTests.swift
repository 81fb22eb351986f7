// Faults during training, with real processes on loopback: a worker killed with SIGKILL mid-run,
// a worker joining mid-run, and the coordinator killed and restarted with --resume while the
// workers keep running (CURVE on, as it must be). Each run must end with the weights of a run in
// which nothing happened.
import Foundation
import TestSupport
import XCTest

/// A background `keypoints` process whose output goes to a file (read at any time).
final class Background {
    let process = Process()
    let log: URL

    init(_ arguments: [String], log: URL) throws {
        self.log = log
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = BinaryRunner.binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["OMP_WAIT_POLICY"] = "passive"
        process.environment = env
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits until the output contains `text` (false after `timeout` seconds or if the process ended).
    @discardableResult
    func wait(for text: String, timeout: Double = 120) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if output.contains(text) { return true }
            if !process.isRunning { return output.contains(text) }
            usleep(50_000)
        }
        return false
    }

    func kill() { Foundation.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }

    /// Ctrl-C: SIGINT, then its exit status once it has stopped (its own children with it); SIGKILL
    /// after `timeout` seconds (nil then).
    func interrupt(timeout: Double = 60) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        Foundation.kill(process.processIdentifier, SIGINT)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(); return nil }
        return process.terminationStatus
    }

    func finish(timeout: Double = 180) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { process.terminate(); return nil }
        return process.terminationStatus
    }
}

final class FaultToleranceTests: XCTestCase {
    private var root: URL!
    private var labels: String { root.appendingPathComponent("cards/labels.csv").path }

    override func setUpWithError() throws {
        root = try BinaryRunner.temporaryDirectory()
        let r = try BinaryRunner.run(["synth", "--out", root.appendingPathComponent("cards").path, "--count", "24", "--size", "64"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for (folder, name) in [("keys", "coordinator"), ("keys/workers", "w1"), ("keys/workers", "w2"), ("keys/workers", "w3")] {
            let k = try BinaryRunner.run(["keygen", "--out", root.appendingPathComponent(folder).path, "--name", name])
            XCTAssertEqual(k.status, 0, k.stderr)
        }
    }

    /// The coordinator's CURVE flags: its key, and the three workers' public keys.
    private var curve: [String] {
        ["--curve-secret", root.appendingPathComponent("keys/coordinator.key").path,
         "--authorized-keys", root.appendingPathComponent("keys/workers").path]
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// Training flags shared by every run here: 8 steps of 3 micro-batches.
    private func flags(_ out: String) -> [String] {
        ["--data", labels, "--val-fraction", "0.2", "--alpha", "0.25", "--input-size", "96", "--hidden", "8",
         "--batch-size", "6", "--micro-batch", "2", "--epochs", "3", "--lr", "0.01", "--seed", "9", "--log-every", "1",
         "--out", root.appendingPathComponent(out).path]
    }

    private func weights(_ out: String) throws -> Foundation.Data {
        try Foundation.Data(contentsOf: root.appendingPathComponent(out).appendingPathComponent("last/model.safetensors"))
    }

    private func reference() throws -> Foundation.Data {
        let r = try BinaryRunner.run(["train"] + flags("reference"))
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        return try weights("reference")
    }

    private func port() -> Int { Int.random(in: 20_000..<60_000) }

    private func worker(_ name: String, _ endpoint: String) throws -> Background {
        try Background(["worker", "--connect", endpoint, "--name", name,
                        "--curve-secret", root.appendingPathComponent("keys/workers/\(name).key").path,
                        "--server-key", root.appendingPathComponent("keys/coordinator.pub").path],
                       log: root.appendingPathComponent("\(name).log"))
    }

    /// `train --workers N` whose local workers all die cannot go on: it stops with a checkpoint and
    /// says so, instead of waiting for workers forever.
    func testTrainStopsWhenAllItsLocalWorkersExited() throws {
        let trainer = try Background(["train", "--workers", "1"] + flags("orphaned").map { $0 == "3" ? "200" : $0 },
                                     log: root.appendingPathComponent("orphaned.log"))
        XCTAssertTrue(trainer.wait(for: "step 2/"), trainer.output)
        let endpoint = try XCTUnwrap(trainer.output.components(separatedBy: "listening on ").dropFirst().first?
            .split(separator: "\n").first.map(String.init))
        let pgrep = try runChild(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-f", "worker --connect \(endpoint) "])
        let pid = try XCTUnwrap(Int32(pgrep.stdout.split(separator: "\n").first ?? ""), pgrep.stdout + pgrep.stderr)
        Foundation.kill(pid, SIGKILL)
        XCTAssertEqual(trainer.finish(timeout: 60), 1, trainer.output)
        XCTAssertTrue(trainer.output.contains("every local worker exited (worker-1 exited with status 9)"), trainer.output)
        XCTAssertTrue(trainer.output.contains("checkpoint:"), trainer.output)
    }

    func testKilledWorkerAndJoiningWorkerLeaveTheWeightsUnchanged() throws {
        let expected = try reference()
        let endpoint = "tcp://127.0.0.1:\(port())"
        let coordinator = try Background(["coordinator", "--bind", endpoint, "--min-workers", "2"] + curve + flags("faulty"),
                                         log: root.appendingPathComponent("coordinator.log"))
        let w1 = try worker("w1", endpoint), w2 = try worker("w2", endpoint)
        XCTAssertTrue(coordinator.wait(for: "step 2/"), coordinator.output)
        w1.kill()  // SIGKILL, possibly mid-micro-batch
        XCTAssertTrue(coordinator.wait(for: "worker w1 removed"), coordinator.output)
        XCTAssertTrue(coordinator.wait(for: "step 4/"), coordinator.output)
        let w3 = try worker("w3", endpoint)  // joins mid-run
        XCTAssertEqual(coordinator.finish(), 0, coordinator.output)
        XCTAssertTrue(coordinator.output.contains("worker w3 joined"), coordinator.output)
        XCTAssertEqual(w2.finish(timeout: 20), 0, w2.output)
        XCTAssertEqual(w3.finish(timeout: 20), 0, w3.output)
        XCTAssertEqual(try weights("faulty"), expected, "a killed and a joining worker changed the weights")
    }

    func testCoordinatorKilledAndResumedWhileWorkersReconnectByThemselves() throws {
        let expected = try reference()
        let endpoint = "tcp://127.0.0.1:\(port())"
        let run = root.appendingPathComponent("crashed").path, checkpoints = run + "/checkpoints"
        let args = ["coordinator", "--bind", endpoint, "--min-workers", "2", "--checkpoint-every", "1"] + curve + flags("crashed")
        let first = try Background(args, log: root.appendingPathComponent("coordinator-1.log"))
        let w1 = try worker("w1", endpoint), w2 = try worker("w2", endpoint)
        XCTAssertTrue(first.wait(for: "step 3/"), first.output)
        first.kill()
        // Damage the newest checkpoint as a crash during its write might: the one before is used.
        let names = try FileManager.default.contentsOfDirectory(atPath: checkpoints).filter { $0.hasPrefix("ckpt-") }.sorted()
        let newest = URL(fileURLWithPath: checkpoints).appendingPathComponent(names.last!)
        let bytes = try Foundation.Data(contentsOf: newest)
        try bytes.prefix(bytes.count / 2).write(to: newest)
        // Restarted from the run folder alone (the cadence of checkpoints is recorded too).
        let second = try Background(["coordinator", "--bind", endpoint, "--min-workers", "2", "--resume", run] + curve,
                                    log: root.appendingPathComponent("coordinator-2.log"))
        XCTAssertEqual(second.finish(), 0, second.output)
        XCTAssertTrue(second.output.contains("skipping damaged checkpoint"), second.output)
        XCTAssertTrue(second.output.contains("resumed from"), second.output)
        XCTAssertEqual(w1.finish(timeout: 20), 0, w1.output)
        XCTAssertEqual(w2.finish(timeout: 20), 0, w2.output)
        XCTAssertEqual(try weights("crashed"), expected, "the crash and resume changed the weights")
    }
}
