// Worker processes started by `train --workers N`: real processes running `keypoints worker`,
// their output going to ours (each line prefixed with the worker's name). They connect to the
// coordinator's Unix socket in a folder only this user can enter (PrivateSocketFolder.swift), so
// no other user can reach it and the traffic needs no keys and no encryption.
import Cluster
import Foundation

final class LocalWorkers {
    private var processes: [Process] = []

    /// Starts `count` workers connecting to `endpoint` (an ipc:// socket in a private folder), each
    /// with `threads` threads. `inMemoryInputs` passes `--in-memory-inputs` (a benchmark mode) to each.
    init(endpoint: String, count: Int, threads: Int, inMemoryInputs: Bool = false) throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        for i in 0..<count {
            let p = Process()
            p.executableURL = executable
            p.arguments = ["worker", "--connect", endpoint, "--threads", "\(threads)", "--name", "worker-\(i + 1)"]
                + (inMemoryInputs ? ["--in-memory-inputs"] : [])
            p.standardInput = FileHandle.nullDevice
            try p.run()
            processes.append(p)
        }
    }

    /// When every worker started here has exited (none can compute any more): which, and how.
    var allExited: String? {
        guard !processes.isEmpty, processes.allSatisfy({ !$0.isRunning }) else { return nil }
        return processes.enumerated().map { i, p in "worker-\(i + 1) exited with status \(p.terminationStatus)" }
            .joined(separator: ", ")
    }

    /// Waits (up to 10 s) for the workers to leave after the coordinator's bye.
    func wait() {
        let deadline = Date().addingTimeInterval(10)
        while processes.contains(where: \.isRunning) && Date() < deadline { usleep(50_000) }
    }

    func stop() {
        for p in processes where p.isRunning { p.terminate() }
    }
}
