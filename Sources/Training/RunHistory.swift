// What a run has been through, kept in every checkpoint so that a resumed run carries on with the
// same epoch history, best score, curves and epoch averages as one that never stopped.
import Foundation
import Model

/// Where one step's time went, seconds. `compute` and `transfer` are per worker (summed over the
/// micro-batches, divided by the workers used); `update` is the reduction, BN fold and optimizer
/// (plus, with workers, the weights broadcast).
public struct StepTiming: Sendable, Codable, Equatable {
    public var total: Double
    public var compute: Double
    public var transfer: Double
    public var update: Double
    public var samples: Int
    public var workers: Int

    public init(total: Double, compute: Double, transfer: Double, update: Double, samples: Int, workers: Int) {
        self.total = total; self.compute = compute; self.transfer = transfer; self.update = update
        self.samples = samples; self.workers = workers
    }
}

/// One step as observers see it.
public struct StepRecord: Sendable {
    /// The step's 0-based global index.
    public var step: Int
    public var epoch: Int
    /// nil when the step was skipped (non-finite loss or gradients).
    public var report: StepReport?
    public var timing: StepTiming
    /// True when this step ends its epoch (validation follows).
    public var endsEpoch: Bool
    /// Steps done after this one (`step + 1`).
    public var stepsDone: Int { step + 1 }
}

/// One epoch's end as observers see it (and as the history keeps it).
public struct EpochSummary: Sendable, Codable, Equatable {
    /// 1-based.
    public var epoch: Int
    /// Steps done at its end.
    public var step: Int
    /// Mean training loss over its applied steps.
    public var trainLoss: Double
    public var validationLoss: Double
    /// Validation metrics in pixels of the network input (NME, PCK by the run's normaliser).
    public var metrics: KeypointMetrics
    /// The mean shape's validation NME (by the same normaliser): the model must beat it.
    public var meanShapeNME: Double
    /// Training images per second over the epoch.
    public var imagesPerSecond: Double
    /// True when its validation NME is the lowest of the run so far.
    public var isBest: Bool

    public init(epoch: Int, step: Int, trainLoss: Double, validationLoss: Double, metrics: KeypointMetrics,
                meanShapeNME: Double, imagesPerSecond: Double, isBest: Bool) {
        self.epoch = epoch; self.step = step; self.trainLoss = trainLoss; self.validationLoss = validationLoss
        self.metrics = metrics; self.meanShapeNME = meanShapeNME; self.imagesPerSecond = imagesPerSecond; self.isBest = isBest
    }
}

/// The run's epochs, best score and the running sums of the epoch in progress.
public struct RunHistory: Sendable, Codable, Equatable {
    public var epochs: [EpochSummary] = []
    /// The epoch in progress: summed loss of its applied steps, their count, images and seconds.
    public var epochLossSum = 0.0
    public var epochSteps = 0
    public var epochImages = 0
    public var epochSeconds = 0.0

    public init() {}

    /// The 1-based epoch with the lowest validation NME so far (nil before the first epoch ends).
    public var bestEpoch: Int? { epochs.last(where: \.isBest)?.epoch }
    /// That epoch's validation NME.
    public var bestNME: Double? { epochs.last(where: \.isBest)?.metrics.nme }

    /// Adds a step to the epoch in progress.
    public mutating func add(_ record: StepRecord) {
        epochSeconds += record.timing.total
        guard let report = record.report else { return }
        epochLossSum += Double(report.loss)
        epochSteps += 1
        epochImages += record.timing.samples
    }

    /// Closes the epoch in progress with its validation; returns its summary (best or not).
    public mutating func closeEpoch(_ epoch: Int, step: Int, validationLoss: Double, metrics: KeypointMetrics,
                                    meanShapeNME: Double) -> EpochSummary {
        let isBest = metrics.nme < (bestNME ?? .infinity)
        let summary = EpochSummary(epoch: epoch, step: step, trainLoss: epochLossSum / Double(max(epochSteps, 1)),
                                   validationLoss: validationLoss, metrics: metrics, meanShapeNME: meanShapeNME,
                                   imagesPerSecond: Double(epochImages) / max(epochSeconds, 1e-9), isBest: isBest)
        epochs.append(summary)
        epochLossSum = 0; epochSteps = 0; epochImages = 0; epochSeconds = 0
        return summary
    }
}
