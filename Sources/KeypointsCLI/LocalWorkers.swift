// Worker processes started by `train --workers N`: real processes running `keypoints worker`,
// their output going to ours (each line prefixed with the worker's name). Each gets its own
// ephemeral CURVE key pair through its standard input, never on a command line other users can read.
import Cluster
import Foundation

final class LocalWorkers {
    private var processes: [Process] = []

    /// Starts `keys.count` workers connecting to `endpoint`, worker i with `keys[i]`, trusting only
    /// the coordinator key `serverKey`.
    /// `inMemoryInputs` passes `--in-memory-inputs` (a benchmark mode) to each.
    init(endpoint: String, threads: Int, keys: [CurveKeyPair], serverKey: String, inMemoryInputs: Bool = false) throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        for (i, pair) in keys.enumerated() {
            let p = Process()
            p.executableURL = executable
            // `--server-key=KEY`: a Z85 key may begin with "-", which would read as an option.
            p.arguments = ["worker", "--connect", endpoint, "--threads", "\(threads)", "--name", "worker-\(i + 1)",
                           "--curve-secret", "-", "--server-key=\(serverKey)"] + (inMemoryInputs ? ["--in-memory-inputs"] : [])
            let secret = Pipe()
            p.standardInput = secret
            try p.run()
            let handle = secret.fileHandleForWriting
            try handle.write(contentsOf: Foundation.Data("public-key = \(pair.publicKey)\nsecret-key = \(pair.secretKey)\n".utf8))
            try handle.close()
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
