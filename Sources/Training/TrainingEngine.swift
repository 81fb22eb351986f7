// The one training loop, for every path: cut the step into micro-batches, get their gradients from
// a gradient source (this process, or workers through a coordinator), reduce them in micro-batch
// order, fold BN statistics by one rule, apply the optimizer, and tell the observers.
import Foundation
import Model

public final class TrainingEngine {
    public let config: RunConfig
    /// The network, optimizer and step counter the engine updates.
    public let trainer: Trainer
    public let plan: StepPlan
    public let source: GradientSource
    /// Epochs, best score and the epoch in progress; restored from a checkpoint on resume.
    public var history: RunHistory
    /// Run at the end of every `validateEvery`-th epoch and of the last (nil: no validation, no
    /// epoch summaries).
    public let validation: Validation?
    /// Validate every this many epochs (`--val-every`); the epochs between add to the next summary.
    public var validateEvery = 1
    /// Ends the run early when validation stops improving (`--patience`); nil: never.
    public var earlyStopping: EarlyStopping?
    /// Told of every step, epoch end and the run's end, in this order.
    public var observers: [TrainingObserver] = []
    public var badSteps: BadStepGuard
    /// Polled between steps and while a step waits for workers; true stops at a step boundary.
    public var stopRequested: () -> Bool = { false }
    /// Skipped samples and steps are reported here.
    public var log: (String) -> Void

    public init(config: RunConfig, trainer: Trainer, plan: StepPlan, source: GradientSource, validation: Validation?,
                history: RunHistory = RunHistory(), maxBadSteps: Int = 5, log: @escaping (String) -> Void = { print($0) }) {
        self.config = config
        self.trainer = trainer
        self.plan = plan
        self.source = source
        self.validation = validation
        self.history = history
        self.badSteps = BadStepGuard(limit: maxBadSteps)
        self.log = log
    }

    /// Steps in all the run's epochs.
    public var totalSteps: Int { plan.totalSteps(epochs: config.training.epochs) }

    /// True when the end of `epoch` (1-based) is validated.
    public func validates(epoch: Int) -> Bool {
        validation != nil && (epoch % max(1, validateEvery) == 0 || epoch >= config.training.epochs)
    }

    /// Runs from `trainer.step` to step `last` (default: the end of the last epoch), then tells the
    /// observers how it ended. Throws `BadStepGuard.TooManyBadSteps` after telling them `.gaveUp`.
    @discardableResult
    public func run(until last: Int? = nil) throws -> RunEnd {
        let last = min(totalSteps, last ?? totalSteps)
        var end = RunEnd.finished
        do {
            // A run that stopped early stays stopped when resumed with the same patience.
            if trainer.step < last, plan.endsEpoch(afterSteps: trainer.step), let reason = earlyStopping?.reason(history) {
                end = .earlyStopped(reason)
            }
            while trainer.step < last, end == .finished {
                if stopRequested() { end = .stopped; break }
                do { try step(last: last) } catch is TrainingStopped { end = .stopped; break }
                if plan.endsEpoch(afterSteps: trainer.step), trainer.step < last, let reason = earlyStopping?.reason(history) {
                    end = .earlyStopped(reason)
                }
            }
        } catch let e as BadStepGuard.TooManyBadSteps {
            try notifyEnd(.gaveUp(e.description))
            throw e
        } catch let failure as ObserverFailure {
            log("stopping after step \(trainer.step): \(failure.error)")
            for (i, o) in observers.enumerated() where i != failure.observer {
                do { try o.runEnded(.failed("\(failure.error)"), engine: self) } catch { log("\(error)") }
            }
            source.finish(completed: false)
            throw failure.error
        }
        try notifyEnd(end)
        return end
    }

    private func notifyEnd(_ end: RunEnd) throws {
        source.finish(completed: end.completed)
        for o in observers { try o.runEnded(end, engine: self) }
    }

    /// An observer's error during a step or an epoch end, with the observer that threw it.
    private struct ObserverFailure: Error {
        /// Its index in `observers`.
        let observer: Int
        let error: Error
    }

    /// Tells every observer `event`; the first error stops the run (see `run`).
    private func tell(_ event: (TrainingObserver) throws -> Void) throws {
        for (i, o) in observers.enumerated() {
            do { try event(o) } catch { throw ObserverFailure(observer: i, error: error) }
        }
    }

    /// One step: plan, gradients, reduction, BN fold, optimizer, observers.
    private func step(last: Int) throws {
        let work = plan.work(step: trainer.step)
        let started = Date()
        let sourced = try source.gradients(for: work, shouldStop: stopRequested)
        let ordered = sourced.results.sorted { $0.index < $1.index }
        guard ordered.map(\.index) == Array(work.microBatches.indices) else {
            throw TrainingError("step \(work.step): the gradient source returned micro-batches \(ordered.map(\.index)), "
                                + "expected 0..<\(work.microBatches.count)")
        }
        for r in ordered { for failure in r.failures { log("skipped sample: \(failure)") } }
        let updateStarted = Date()
        let (report, skipped) = apply(ordered, work: work)
        trainer.step += 1
        try source.stepDone(stepsDone: trainer.step, more: trainer.step < last)
        let record = StepRecord(step: work.step, epoch: work.epoch, report: report,
                                timing: timing(ordered, sourced, started: started, updateStarted: updateStarted),
                                endsEpoch: plan.endsEpoch(afterSteps: trainer.step))
        history.add(record)
        try tell { try $0.stepEnded(record, engine: self) }
        if let skipped { try badSteps.skipped(skipped) }
        if record.endsEpoch, validates(epoch: work.epoch + 1), let validation {
            let (loss, metrics) = try validation.evaluate(trainer.network)
            let summary = history.closeEpoch(work.epoch + 1, step: trainer.step, validationLoss: Double(loss), metrics: metrics,
                                             meanShapeNME: validation.meanShape.nme)
            try tell { try $0.epochEnded(summary, engine: self) }
        }
    }

    /// Reduces, folds BN statistics and applies the optimizer; or, when the step is not finite,
    /// changes nothing and returns why.
    private func apply(_ ordered: [MicroBatchResult], work: StepWork) -> (StepReport?, NonFiniteStep?) {
        let store = trainer.network.store
        do {
            let loss = try StepReduction.reduce(ordered, into: store, step: work.step)
            BatchNormStatistics.foldStep(ordered.map(\.batchStatistics), step: work.step, perStep: plan.microBatchesPerStep,
                                         prior: config.statisticsPriorUpdates, into: store)
            badSteps.applied()
            return (trainer.applyGradients(loss: loss, epoch: work.epoch), nil)
        } catch {
            let e = error as? NonFiniteStep ?? NonFiniteStep(step: work.step, reason: "\(error)")
            log("\(e.description); the weights are unchanged")
            return (nil, e)
        }
    }

    private func timing(_ ordered: [MicroBatchResult], _ sourced: SourcedGradients, started: Date, updateStarted: Date) -> StepTiming {
        let compute = ordered.reduce(0) { $0 + $1.computeSeconds }
        let samples = ordered.reduce(0) { $0 + $1.samples }
        let update = Date().timeIntervalSince(updateStarted), total = Date().timeIntervalSince(started)
        guard sourced.workers > 0 else {
            return StepTiming(total: total, compute: total - update, transfer: 0, update: update, samples: samples, workers: 0)
        }
        let used = Double(max(1, min(sourced.workers, ordered.count)))
        return StepTiming(total: total, compute: compute / used, transfer: max(0, sourced.roundTripSeconds - compute) / used,
                          update: update, samples: samples, workers: sourced.workers)
    }
}
