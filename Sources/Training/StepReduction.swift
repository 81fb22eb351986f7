// The reduction that makes N workers equal one process: micro-batch gradient sums are added in
// micro-batch order, whatever order they arrived in, and divided by the step's labelled count.
import Model

/// Thrown when a step's loss or gradients are NaN or infinite. The step is *not* applied (weights,
/// optimizer state and BN statistics unchanged) but counted, so training moves on to the next data.
public struct NonFiniteStep: Error, CustomStringConvertible {
    public let step: Int
    public let reason: String
    public var description: String { "step \(step) skipped: \(reason)" }
}

public enum StepReduction {
    /// Sums the gradients of `ordered` (sorted by micro-batch index) into `store.gradients` and
    /// divides by the total labelled count; returns the step's mean loss. Throws `NonFiniteStep`
    /// (for `step`) when the loss or a gradient is not finite; the gradient buffer is scratch then.
    public static func reduce(_ ordered: [MicroBatchResult], into store: ParameterStore, step: Int) throws -> Float {
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
            throw NonFiniteStep(step: step, reason: loss.isFinite ? "a gradient is NaN or infinite" : "the loss is \(loss)")
        }
        return loss
    }
}
