// The in-process gradient source: the micro-batch computer on the engine's own network, fed by a
// background loader that decodes and augments the epoch's micro-batches ahead of the step.
import Data
import Foundation

public final class LocalGradientSource: GradientSource {
    private let computer: MicroBatchComputer
    private let loader: BatchLoader
    private let plan: StepPlan
    /// The step the loader's queue continues with, and that step's epoch (nil: not started).
    private var queued: (next: Int, epoch: Int)?

    /// - Parameters:
    ///   - dataset: the training samples.
    ///   - computer: computes over the engine's network (``MicroBatchComputer/init(config:network:)``).
    ///   - threads: loader threads decoding and augmenting in the background.
    public init(dataset: KeypointDataset, computer: MicroBatchComputer, plan: StepPlan, threads: Int) {
        self.computer = computer
        self.plan = plan
        let config = computer.config
        loader = BatchLoader(source: dataset.sampleSource, renderer: config.renderer, augmentation: config.augmentation,
                             seed: config.training.seed, threads: threads)
    }

    public func gradients(for work: StepWork, shouldStop: () -> Bool) throws -> SourcedGradients {
        if queued?.next != work.step || queued?.epoch != work.epoch {
            // The loader works through the rest of the epoch's micro-batches, from this step on.
            let first = work.step, end = (work.epoch + 1) * plan.stepsPerEpoch
            loader.start(epoch: work.epoch, batches: (first..<end).flatMap { plan.microBatches(step: $0).batches })
        }
        queued = (work.step + 1, work.epoch)
        var results: [MicroBatchResult] = []
        for index in work.microBatches.indices {
            guard let batch = loader.next() else { throw TrainingError("the loader ended early at step \(work.step)") }
            results.append(try computer.compute(batch, step: work.step, epoch: work.epoch, index: index))
        }
        return SourcedGradients(results: results)
    }

    /// Stops the background loading; a later `gradients(for:)` starts it again where asked.
    public func finish(completed: Bool) {
        loader.cancel()
        queued = nil
    }
}
