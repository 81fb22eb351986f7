// What hangs off the engine: progress, metrics, the best model, curves and checkpoints each observe
// steps, epoch ends and the run's end, and none of them changes the maths.

/// How a run ended.
public enum RunEnd: Sendable, Equatable {
    /// Every step up to the last one ran.
    case finished
    /// Ended at an epoch boundary before the last step: validation stopped improving (the
    /// reason says for how long); the best model is the run's result.
    case earlyStopped(String)
    /// Stopped at a step boundary on request (SIGINT/SIGTERM).
    case stopped
    /// Too many non-finite steps in a row; the weights are the last good ones.
    case gaveUp(String)
    /// An observer could not do its job (a full disk under the metrics log, say): the run stops
    /// after the step it failed on, and the others still hear of the end (so a checkpoint is tried).
    case failed(String)
}

extension RunEnd {
    /// True when training is over (finished, or stopped early): the run's models are final.
    public var completed: Bool {
        switch self {
        case .finished, .earlyStopped: return true
        case .stopped, .gaveUp, .failed: return false
        }
    }
}

public protocol TrainingObserver: AnyObject {
    /// After every step, applied or skipped, before its epoch's validation.
    func stepEnded(_ record: StepRecord, engine: TrainingEngine) throws
    /// After an epoch's validation (the summary is already in `engine.history`).
    func epochEnded(_ summary: EpochSummary, engine: TrainingEngine) throws
    /// Once, when the run ends, whichever way.
    func runEnded(_ end: RunEnd, engine: TrainingEngine) throws
}

extension TrainingObserver {
    public func stepEnded(_ record: StepRecord, engine: TrainingEngine) throws {}
    public func epochEnded(_ summary: EpochSummary, engine: TrainingEngine) throws {}
    public func runEnded(_ end: RunEnd, engine: TrainingEngine) throws {}
}
