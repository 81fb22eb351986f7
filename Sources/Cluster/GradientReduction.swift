// The reduction that makes N workers equal one process: micro-batch results are added in
// micro-batch order, whatever order they arrived in, then one optimizer step is applied.
import Model

public enum GradientReduction {
    /// Sums `results` (sorted by micro-batch index) into the trainer's gradient buffer, divides by
    /// the total labelled count, folds each micro-batch's BN statistics into the running ones in
    /// order, and applies the optimizer step for `epoch`. Returns the step report (mean loss).
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
        for i in 0..<n { g[i] *= scale }
        for r in ordered { if let stats = r.batchStatistics { trainer.network.applyBatchStatistics(stats) } }
        trainer.prepare(epoch: epoch)
        return try trainer.applyGradients(loss: lossSum * scale, epoch: epoch)
    }
}
