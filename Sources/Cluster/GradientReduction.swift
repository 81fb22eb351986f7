// The reduction that makes N workers equal one process: micro-batch results are added in
// micro-batch order, whatever order they arrived in, then one optimizer step is applied.
import Model

/// Thrown when a step's loss or gradients are NaN or infinite. The step was *not* applied (weights,
/// optimizer state and BN statistics unchanged) but counted, so training moves on to the next data.
public struct NonFiniteStep: Error, CustomStringConvertible {
    public let step: Int
    public let reason: String
    public var description: String { "step \(step) skipped: \(reason)" }
}

/// Counts consecutive skipped steps and says when to give up.
public struct BadStepGuard: Sendable {
    public let limit: Int
    public private(set) var consecutive = 0

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Thrown by ``skipped(_:)`` at the limit.
    public struct TooManyBadSteps: Error, CustomStringConvertible {
        public let description: String
    }

    /// Records a skipped step; throws `TooManyBadSteps` once `limit` steps in a row were skipped.
    public mutating func skipped(_ e: NonFiniteStep) throws {
        consecutive += 1
        if consecutive >= limit {
            throw TooManyBadSteps(description: "\(consecutive) steps in a row had NaN or infinite loss or gradients (last: \(e.reason)); "
                + "training stopped. Lower the learning rate (--lr), clip gradients (--clip-norm) or check the labels, "
                + "then resume from the last checkpoint")
        }
    }

    /// Applies the step, or skips it when its loss or gradients are not finite (logged through
    /// `log`). Returns nil for a skipped step; throws `TooManyBadSteps` at the limit.
    public mutating func apply(_ results: [MicroBatchResult], to trainer: Trainer, epoch: Int,
                               log: (String) -> Void) throws -> StepReport? {
        do {
            let report = try GradientReduction.apply(results, to: trainer, epoch: epoch)
            consecutive = 0
            return report
        } catch let e as NonFiniteStep {
            log("\(e.description); the weights are unchanged")
            try skipped(e)
            return nil
        }
    }
}

public enum GradientReduction {
    /// Sums `results` (sorted by micro-batch index) into the trainer's gradient buffer, divides by
    /// the total labelled count, folds each micro-batch's BN statistics into the running ones in
    /// order (a plain average over a run's first updates: `statisticsMomentum`), and applies the optimizer step for `epoch`. Returns the step report (mean loss).
    public static func apply(_ results: [MicroBatchResult], to trainer: Trainer, epoch: Int) throws -> StepReport {
        let ordered = results.sorted { $0.index < $1.index }
        let store = trainer.network.store
        let g = store.gradients.base, n = store.gradients.count
        store.gradients.zero()
        var lossSum: Float = 0, labelled: Float = 0
        for r in ordered {
            precondition(r.gradients.count == n, "micro-batch \(r.index) has \(r.gradients.count) gradients, expected \(n)")
            r.gradients.withUnsafeBufferPointer { src in for i in 0..<n { g[i] += src[i] } }
            lossSum += r.lossSum
            labelled += r.labelled
        }
        let scale = 1 / max(labelled, 1)
        var finite = true
        for i in 0..<n { g[i] *= scale; if !g[i].isFinite { finite = false } }
        let loss = lossSum * scale
        guard loss.isFinite && finite else {
            let step = trainer.step
            trainer.step += 1
            throw NonFiniteStep(step: step, reason: loss.isFinite ? "a gradient is NaN or infinite" : "the loss is \(loss)")
        }
        // Fold j of this step is update number prior + step * (micro-batches per step) + j: a
        // function of the step alone, so resumed and distributed runs fold as an uninterrupted one.
        let perStep = max(trainer.microBatchesPerStep, ordered.count)
        for (j, r) in ordered.enumerated() {
            guard let stats = r.batchStatistics else { continue }
            let update = trainer.priorStatisticsUpdates + trainer.step * perStep + j
            trainer.network.applyBatchStatistics(stats, momentum: KeypointNetwork.statisticsMomentum(update: update))
        }
        trainer.prepare(epoch: epoch)
        return try trainer.applyGradients(loss: loss, epoch: epoch)
    }
}
