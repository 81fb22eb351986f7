// Worker processes started by `train --workers N`: real processes running `keypoints worker`,
// their output going to ours (each line prefixed with the worker's name).
import Foundation

final class LocalWorkers {
    private var processes: [Process] = []

    init(count: Int, endpoint: String, threads: Int) throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        for i in 0..<count {
            let p = Process()
            p.executableURL = executable
            p.arguments = ["worker", "--connect", endpoint, "--threads", "\(threads)", "--name", "worker-\(i + 1)"]
            try p.run()
            processes.append(p)
        }
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
