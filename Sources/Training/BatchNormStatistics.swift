// BatchNorm running statistics, by one rule, in one place. Every path that trains (in process, on
// workers, resumed) folds statistics here and nowhere else.
//
// The rule:
//  1. A worker (or the in-process computer: the same code) runs a training-mode forward of its
//     micro-batch. Each BN layer normalises by that micro-batch's mean and biased variance and hands
//     them out (`BatchNorm.lastBatchStatistics`); the forward never touches the running statistics.
//     The micro-batch's statistics travel with its gradients, laid out like the statistics buffer
//     (`KeypointNetwork.batchStatistics()`), or not at all while the backbone is frozen.
//  2. After the step's gradients are reduced and found finite, the coordinator folds each
//     micro-batch's statistics into the running ones in micro-batch order:
//         running = m * running + (1 - m) * batch
//  3. The momentum of fold j of step s is `momentum(update: prior + s * microBatchesPerStep + j)`:
//     `min(0.99, u / (u + 1))`. The first 100 folds make a plain average of every micro-batch so
//     far (as PyTorch's `momentum=None`), then Keras' exponential average (0.99) takes over.
//     `prior` is 0 for a fresh network and 100 for statistics imported with `--init-from`, so those
//     are folded into at 0.99 from the first update instead of being replaced. Numbering by
//     `microBatchesPerStep` (not the step's actual count) keeps an epoch's short last step from
//     renumbering the folds after it; a function of the step alone, resumed and distributed runs
//     fold exactly as an uninterrupted single-process one.
//  4. A skipped (non-finite) step folds nothing.
import Model

public enum BatchNormStatistics {
    /// Keras' BatchNorm momentum.
    public static let momentum: Float = 0.99
    /// The updates imported statistics stand for: 1 / (1 - momentum).
    public static let importedPrior = 100

    /// The momentum of the `update`-th fold (0-based): `min(momentum, update / (update + 1))`.
    /// NOTE: update 0 has momentum 0: the first fold replaces the starting statistics outright.
    public static func momentum(update: Int) -> Float {
        min(momentum, Float(update) / Float(update + 1))
    }

    /// The fold number of micro-batch `j` of `step`.
    public static func update(step: Int, microBatch j: Int, perStep: Int, prior: Int) -> Int {
        prior + step * perStep + j
    }

    /// `running = m * running + (1 - m) * batch` over the whole statistics buffer of `store`.
    /// - Parameter batch: [statisticCount], the layout of `store.statistics`.
    public static func fold(_ batch: [Float], into store: ParameterStore, momentum m: Float) {
        precondition(batch.count == store.statistics.count, "\(batch.count) statistics for a buffer of \(store.statistics.count)")
        let r = store.statistics.base
        batch.withUnsafeBufferPointer { b in
            for i in 0..<b.count { r[i] = m * r[i] + (1 - m) * b[i] }
        }
    }

    /// Folds the statistics of a step's micro-batches (`ordered` by micro-batch index; nil where the
    /// backbone was frozen) into `store`, numbering the folds as the rule says.
    public static func foldStep(_ ordered: [[Float]?], step: Int, perStep: Int, prior: Int, into store: ParameterStore) {
        let perStep = max(perStep, ordered.count)
        for (j, statistics) in ordered.enumerated() {
            guard let statistics else { continue }
            fold(statistics, into: store, momentum: momentum(update: update(step: step, microBatch: j, perStep: perStep, prior: prior)))
        }
    }
}
