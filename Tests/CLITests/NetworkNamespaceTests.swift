// Coordinator and worker on two "hosts": separate network namespaces joined by a veth pair, so
// nothing can rely on loopback. The worker is started in another folder and is never told where
// the dataset is: its samples arrive over ZeroMQ. The link is CURVE-authenticated and encrypted, as
// it must be off loopback: a worker whose key is not authorized is refused and changes nothing.
import Foundation
import TestSupport
import XCTest

final class NetworkNamespaceTests: XCTestCase {
    private func sh(_ command: String) throws -> RunResult {
        try runChild(URL(fileURLWithPath: "/bin/sh"), ["-c", command])
    }

    func testCoordinatorAndWorkerInSeparateNetworkNamespaces() throws {
        guard getuid() == 0 else { throw Requirement.unavailable("network namespaces need root; run the tests as root") }
        let tag = String(UInt32.random(in: 0..<1_000_000))
        let c = "kpc\(tag)", w = "kpw\(tag)"
        let subnet = "10.\(200 + Int.random(in: 0..<50)).\(Int.random(in: 0..<250))"
        let setup = try sh("""
            set -e
            ip netns add \(c); ip netns add \(w)
            ip link add v\(tag)c type veth peer name v\(tag)w
            ip link set v\(tag)c netns \(c); ip link set v\(tag)w netns \(w)
            ip -n \(c) addr add \(subnet).1/24 dev v\(tag)c; ip -n \(w) addr add \(subnet).2/24 dev v\(tag)w
            ip -n \(c) link set v\(tag)c up; ip -n \(w) link set v\(tag)w up
            ip -n \(c) link set lo up; ip -n \(w) link set lo up
            """)
        defer { _ = try? sh("ip netns del \(c); ip netns del \(w)") }
        guard setup.status == 0 else { throw Requirement.unavailable("cannot create network namespaces here: \(setup.stderr)") }

        let root = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let cards = root.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "16", "--size", "64"]).status, 0)
        let workerHome = root.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: workerHome, withIntermediateDirectories: true)
        let keys = root.appendingPathComponent("keys"), admitted = keys.appendingPathComponent("admitted")
        for name in ["coordinator", "remote-1", "rogue"] {
            XCTAssertEqual(try BinaryRunner.run(["keygen", "--out", keys.path, "--name", name]).status, 0)
        }
        try FileManager.default.createDirectory(at: admitted, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: keys.appendingPathComponent("remote-1.pub"), to: admitted.appendingPathComponent("remote-1.pub"))

        let bin = BinaryRunner.binary.path
        // Without keys, binding beyond loopback is refused with the way out.
        let open = try sh("cd \(root.path) && ip netns exec \(c) \(bin) coordinator --bind tcp://\(subnet).1:5599 --data cards/labels.csv --out run-open")
        XCTAssertEqual(open.status, 64, open.stderr)
        XCTAssertTrue(open.stderr.contains("keypoints keygen") && open.stderr.contains("--insecure"), open.stderr)

        let rogue = Process()
        rogue.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        rogue.arguments = ["netns", "exec", w, bin, "worker", "--connect", "tcp://\(subnet).1:5599", "--name", "rogue",
                           "--curve-secret", keys.appendingPathComponent("rogue.key").path,
                           "--server-key", keys.appendingPathComponent("coordinator.pub").path]
        rogue.standardOutput = FileHandle.nullDevice
        rogue.standardError = FileHandle.nullDevice
        try rogue.run()
        defer { if rogue.isRunning { rogue.terminate() } }
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        worker.arguments = ["netns", "exec", w, bin, "worker", "--connect", "tcp://\(subnet).1:5599", "--name", "remote-1",
                            "--curve-secret", keys.appendingPathComponent("remote-1.key").path,
                            "--server-key", keys.appendingPathComponent("coordinator.pub").path]
        worker.currentDirectoryURL = workerHome
        let workerOut = Pipe()
        worker.standardOutput = workerOut
        worker.standardError = workerOut
        try worker.run()
        defer { if worker.isRunning { worker.terminate() } }

        // 30 steps: long enough (a second or two) that the rogue's reconnects (every 100 ms) reach the
        // coordinator while it runs; 3 steps took 0.2 s, and the refusal was sometimes not yet logged.
        let r = try sh("cd \(root.path) && OMP_WAIT_POLICY=passive ip netns exec \(c) \(bin) coordinator --bind tcp://\(subnet).1:5599 "
                       + "--curve-secret \(keys.path)/coordinator.key --authorized-keys \(admitted.path) "
                       + "--data cards/labels.csv --out run --alpha 0.25 --input-size 96 --hidden 8 --batch-size 4 --micro-batch 2 --steps 30")
        let workerText = String(decoding: workerOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        worker.waitUntilExit()
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("worker remote-1 joined"), r.stdout)
        XCTAssertTrue(r.stdout.contains("CURVE on: 1 authorized worker key(s)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("refused a connection from \(subnet).2"), r.stdout)
        XCTAssertFalse(r.stdout.contains("worker rogue joined"), r.stdout)
        XCTAssertTrue(r.stdout.contains("final validation"), r.stdout)
        XCTAssertTrue(workerText.contains("training is over"), workerText)
        XCTAssertEqual(worker.terminationStatus, 0, workerText)
    }
}
