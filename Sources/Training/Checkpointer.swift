// Checkpoints as an observer of the engine: at every epoch end (after validation, so the history
// and best score are in it), every N steps, and at the run's end, however it ends.
import Foundation

/// When and where checkpoints are written.
public struct CheckpointPolicy: Sendable {
    public var directory: URL
    /// Every this many steps (0 = only at epoch ends and the end of training).
    public var every: Int
    /// How many of the newest checkpoints to keep.
    public var keep: Int
    /// The dataset fingerprint stored in each checkpoint; resuming on other data is refused.
    public var fingerprint: String

    public init(directory: URL, every: Int, keep: Int, fingerprint: String) {
        self.directory = directory
        self.every = every
        self.keep = max(1, keep)
        self.fingerprint = fingerprint
    }
}

public final class Checkpointer: TrainingObserver {
    public let policy: CheckpointPolicy
    private let log: (String) -> Void
    /// The newest checkpoint written by this run and its step (so the end does not write it twice).
    private var written: (step: Int, path: String)?

    public init(policy: CheckpointPolicy, log: @escaping (String) -> Void) {
        self.policy = policy
        self.log = log
    }

    public func stepEnded(_ record: StepRecord, engine: TrainingEngine) throws {
        // Validated epoch ends are written after validation (epochEnded); the others here.
        let epochEnd = record.endsEpoch && !engine.validates(epoch: record.epoch + 1)
        if epochEnd || (!record.endsEpoch && policy.every > 0 && record.stepsDone % policy.every == 0) {
            try save(engine, why: "")
        }
    }

    public func epochEnded(_ summary: EpochSummary, engine: TrainingEngine) throws { try save(engine, why: "") }

    public func runEnded(_ end: RunEnd, engine: TrainingEngine) throws {
        let why: String
        switch end {
        case .finished, .earlyStopped: why = ""
        case .stopped: why = "stopping on signal; "
        case .gaveUp: why = "the last good weights; "
        case .failed: why = "after the failure above; "
        }
        if let written, written.step == engine.trainer.step {
            if !why.isEmpty { log("\(why)checkpoint: \(written.path)") }
        } else {
            try save(engine, why: why)
        }
    }

    /// Writes a checkpoint of the engine's state now; returns its path.
    @discardableResult
    public func save(_ engine: TrainingEngine, why: String) throws -> String {
        let path = try Checkpoint.write(trainer: engine.trainer, config: engine.config, fingerprint: policy.fingerprint,
                                        history: engine.history, to: policy.directory, keep: policy.keep)
        written = (engine.trainer.step, path)
        log("\(why)checkpoint: \(path)")
        return path
    }
}
