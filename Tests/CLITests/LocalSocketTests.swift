// Workers on the coordinator's machine over a Unix socket (ipc://) in a folder only this user can
// enter: `train --workers N` makes such a folder, another user cannot connect to the socket in it,
// the folder is gone after the run, and `coordinator --bind ipc://...` without keys is accepted
// only in a folder like it.
import Foundation
import TestSupport
import XCTest

final class LocalSocketTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = try BinaryRunner.temporaryDirectory()
        let r = try BinaryRunner.run(["synth", "--out", root.appendingPathComponent("cards").path, "--count", "16", "--size", "64"])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func flags(_ out: String, epochs: Int) -> [String] {
        ["--data", root.appendingPathComponent("cards/labels.csv").path, "--val-fraction", "0.25", "--alpha", "0.25",
         "--input-size", "96", "--hidden", "8", "--batch-size", "4", "--micro-batch", "2", "--epochs", "\(epochs)",
         "--log-every", "1", "--out", root.appendingPathComponent(out).path]
    }

    /// `python3 -c` connecting a Unix stream socket to `path`, as `user` (runuser) or as this user.
    private func connect(_ path: String, as user: String? = nil) throws -> RunResult {
        let python = ["/usr/bin/python3", "-c", "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])", path]
        guard let user else { return try runChild(URL(fileURLWithPath: python[0]), Array(python.dropFirst())) }
        return try runChild(URL(fileURLWithPath: "/usr/sbin/runuser"), ["-u", user, "--"] + python)
    }

    func testTrainWithLocalWorkersListensWhereNoOtherUserCanConnect() throws {
        guard getuid() == 0 else { throw Requirement.unavailable("connecting as another user (runuser) needs root; run the tests as root") }
        let run = try Background(["train", "--workers", "1"] + flags("run", epochs: 500), log: root.appendingPathComponent("run.log"))
        defer { _ = run.interrupt() }
        XCTAssertTrue(run.wait(for: "step 2/"), run.output)
        let endpoint = try XCTUnwrap(run.output.components(separatedBy: "listening on ").dropFirst().first?.prefix { !$0.isWhitespace })
        XCTAssertTrue(endpoint.hasPrefix("ipc://"), "local workers are not on a Unix socket: \(endpoint)")
        let socket = String(endpoint.dropFirst("ipc://".count))
        let folder = (socket as NSString).deletingLastPathComponent
        var info = stat()
        XCTAssertEqual(lstat(folder, &info), 0, folder)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFDIR, "\(folder) is not a folder")
        XCTAssertEqual(info.st_mode & 0o777, 0o700, "\(folder): mode \(String(info.st_mode & 0o777, radix: 8))")
        XCTAssertEqual(info.st_uid, geteuid())

        let other = try connect(socket, as: "nobody")
        XCTAssertNotEqual(other.status, 0, "user nobody connected to \(socket)")
        XCTAssertTrue(other.stderr.contains("PermissionError"), other.stderr)
        let same = try connect(socket)  // the socket is live: the refusal above was the folder's doing
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertTrue(run.output.contains("[worker-1] connecting to \(endpoint) (Unix socket)"), run.output)

        XCTAssertEqual(run.interrupt(), 130, run.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder), "\(folder) is left behind")
    }

    /// A coordinator takes `--bind ipc://FOLDER/NAME` without keys only when FOLDER is this user's
    /// alone; in a folder others may enter it says why and what to do. A worker needs no keys for it.
    func testAUnixSocketNeedsNoKeysOnlyInAPrivateFolder() throws {
        let open = root.appendingPathComponent("open"), closed = root.appendingPathComponent("closed")
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try FileManager.default.createDirectory(at: closed, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let refused = try BinaryRunner.run(["coordinator", "--bind", "ipc://\(open.path)/c"] + flags("a", epochs: 1))
        XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("has mode 755: other users may enter it") && refused.stderr.contains("mkdir -m 700"),
                      refused.stderr)
        let long = "ipc://\(closed.path)/" + String(repeating: "s", count: 120)
        let tooLong = try BinaryRunner.run(["coordinator", "--bind", long] + flags("b", epochs: 1))
        XCTAssertEqual(tooLong.status, 64, tooLong.stdout + tooLong.stderr)
        XCTAssertTrue(tooLong.stderr.contains("more than the 107 Linux allows"), tooLong.stderr)

        let coordinator = try Background(["coordinator", "--bind", "ipc://\(closed.path)/c"] + flags("c", epochs: 1),
                                         log: root.appendingPathComponent("c.log"))
        XCTAssertTrue(coordinator.wait(for: "listening on ipc://\(closed.path)/c"), coordinator.output)
        XCTAssertTrue(coordinator.output.contains("Unix socket in a folder only this user can enter"), coordinator.output)
        let worker = try Background(["worker", "--connect", "ipc://\(closed.path)/c", "--name", "w1"],
                                    log: root.appendingPathComponent("w1.log"))
        XCTAssertEqual(coordinator.finish(), 0, coordinator.output)
        XCTAssertTrue(coordinator.output.contains("worker w1 joined"), coordinator.output)
        XCTAssertEqual(worker.finish(timeout: 30), 0, worker.output)
    }
}
