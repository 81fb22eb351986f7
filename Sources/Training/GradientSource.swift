// Where a step's micro-batch gradients come from: this process (``LocalGradientSource``) or worker
// processes through a coordinator (the `Cluster` target's `Coordinator`). The engine does the rest.
import Foundation

/// A step's results as a source delivers them.
public struct SourcedGradients: Sendable {
    /// One result per micro-batch of the step, in any order.
    public var results: [MicroBatchResult]
    /// Summed seconds from handing a micro-batch out to receiving its result (0 in process).
    public var roundTripSeconds: Double
    /// Workers connected while the step ran (0 in process).
    public var workers: Int

    public init(results: [MicroBatchResult], roundTripSeconds: Double = 0, workers: Int = 0) {
        self.results = results; self.roundTripSeconds = roundTripSeconds; self.workers = workers
    }
}

/// Thrown by a source whose `shouldStop` said so mid-step: nothing of the step is applied.
public struct TrainingStopped: Error {
    public init() {}
}

public protocol GradientSource: AnyObject {
    /// Every micro-batch result of `work`, exactly once each. The weights to compute with are the
    /// engine network's current ones. `shouldStop` is polled while waiting; when it returns true the
    /// source throws ``TrainingStopped``.
    func gradients(for work: StepWork, shouldStop: () -> Bool) throws -> SourcedGradients
    /// The step was applied (or skipped); `stepsDone` steps are done, and `more` says whether
    /// another step follows in this run (a remote source then ships the new weights).
    func stepDone(stepsDone: Int, more: Bool) throws
    /// The run is over: `completed` when every step ran (a remote source lets its workers go).
    func finish(completed: Bool)
}

extension GradientSource {
    public func stepDone(stepsDone: Int, more: Bool) throws {}
    public func finish(completed: Bool) {}
}
