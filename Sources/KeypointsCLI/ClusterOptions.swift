// Flags for data-parallel training and checkpoints, shared by `train` and `coordinator`.
import ArgumentParser
import Cluster
import Foundation

struct CheckpointOptions: ParsableArguments {
    @Option(name: .customLong("checkpoint-dir"), help: "Folder for checkpoints (none are written without it).")
    var checkpointDir: String?
    @Option(name: .customLong("checkpoint-every"), help: "Also checkpoint every N steps (epoch ends always are).")
    var checkpointEvery: Int = 0
    @Option(help: "How many of the newest checkpoints to keep.")
    var keep: Int = 3
    @Flag(help: "Continue from the newest valid checkpoint in --checkpoint-dir.")
    var resume = false
    @Option(help: "Stop after this many steps in all (for trials; a checkpoint is written there).")
    var steps: Int?

    func validate() throws {
        if resume && checkpointDir == nil { throw ValidationError("--resume needs --checkpoint-dir") }
        guard keep >= 1 else { throw ValidationError("--keep must be at least 1") }
    }

    func policy(fingerprint: String) -> CheckpointPolicy? {
        checkpointDir.map { CheckpointPolicy(directory: URL(fileURLWithPath: $0), every: checkpointEvery, keep: keep,
                                             fingerprint: fingerprint) }
    }
}

struct MicroBatchOptions: ParsableArguments {
    @Option(name: .customLong("micro-batch"),
            help: "Samples per micro-batch, the unit of work given to a worker; steps are cut the same way whatever the number of workers.")
    var microBatch: Int = 16

    func validate() throws {
        guard microBatch >= 1 else { throw ValidationError("--micro-batch must be at least 1") }
    }
}

struct FaultOptions: ParsableArguments {
    @Option(name: .customLong("step-deadline"), help: "Seconds a worker may hold a micro-batch before it is dropped and the work reassigned.")
    var stepDeadline: Double = 600
    @Option(name: .customLong("heartbeat-interval"), help: "Milliseconds between ZeroMQ heartbeats.")
    var heartbeatInterval: Int = 1000
    @Option(name: .customLong("heartbeat-timeout"), help: "Milliseconds of silence after which a connection counts as dead.")
    var heartbeatTimeout: Int = 10_000
    @Option(name: .customLong("max-bad-steps"), help: "Stop after this many NaN/Inf steps in a row (each is skipped).")
    var maxBadSteps: Int = 5

    func validate() throws {
        guard stepDeadline > 0, heartbeatInterval > 0, heartbeatTimeout > heartbeatInterval, maxBadSteps >= 1 else {
            throw ValidationError("--step-deadline and the heartbeats must be positive, the timeout above the interval, --max-bad-steps at least 1")
        }
    }
}

/// Set by SIGINT/SIGTERM; the training loop checkpoints and stops at the next step boundary.
final class StopRequest: @unchecked Sendable {
    static let shared = StopRequest()
    private let lock = NSLock()
    private var requested = false
    private var sources: [DispatchSourceSignal] = []

    var isRequested: Bool { lock.lock(); defer { lock.unlock() }; return requested }

    /// Routes SIGINT and SIGTERM here instead of killing the process.
    func install(onSignal: @escaping @Sendable (Int32) -> Void = { _ in }) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                lock.lock(); requested = true; lock.unlock()
                onSignal(sig)
            }
            source.resume()
            sources.append(source)
        }
    }
}
