// Single-process training: one step is forward, masked loss, backward, clipping and the optimizer.
import Compute

/// A batch ready for the network. Images [N, 3, S, S] plain NCHW in [-1, 1]; targets [N, 2K]
/// normalised to [0, 1] of the input frame; mask [N, K] (1 = labelled, 0 = masked from the loss).
public struct KeypointBatch: Sendable {
    public var images: [Float]
    public var targets: [Float]
    public var mask: [Float]
    public var count: Int
    public init(images: [Float], targets: [Float], mask: [Float], count: Int) {
        self.images = images; self.targets = targets; self.mask = mask; self.count = count
    }
}

/// How to train. Defaults suit keypoint regression from scratch; see README "Why these defaults".
public struct TrainingConfig: Sendable, Codable, Equatable {
    public var epochs = 30
    public var batchSize = 32
    /// Base learning rate (Adam 1e-3 from scratch; lower, e.g. 1e-4, when fine-tuning pretrained weights).
    public var learningRate: Float = 1e-3
    public var optimizer = OptimizerKind.adamDefault
    public var weightDecay: Float = 0
    public var schedule = LearningRateSchedule.constant
    public var loss = Loss.mse
    /// Clip the global gradient norm to this (0 = no clipping).
    public var clipNorm: Float = 0
    /// Train the head only, with backbone BN statistics frozen, for this many epochs.
    public var freezeBackboneEpochs = 0
    /// After the frozen epochs, the whole network trains at `learningRate * fineTuneFactor`.
    public var fineTuneFactor: Float = 0.1
    public var seed: UInt64 = 0

    public init() {}
}

/// What one optimizer step did.
public struct StepReport: Sendable {
    public var loss: Float
    public var gradientNorm: Float
    public var learningRate: Float
}

/// Owns a network, its optimizer and the step counter, and runs training and evaluation steps.
public final class Trainer {
    public let network: KeypointNetwork
    public let config: TrainingConfig
    public let optimizer: Optimizer
    /// Steps applied so far (0-based index of the next step). Set when resuming from a checkpoint.
    public var step = 0
    /// Micro-batches in a full step (ceil(batch / micro-batch)). BN statistics updates are numbered
    /// `step * microBatchesPerStep + j` (see `KeypointNetwork.statisticsMomentum`), so an epoch's
    /// short last step does not renumber the ones after it.
    public var microBatchesPerStep = 1
    /// How many updates the running BN statistics already stand for before step 0: 0 when they start
    /// at their defaults; 100 (= 1 / (1 - 0.99)) when they come from a pretrained backbone, so
    /// training folds new batches in with Keras' momentum instead of replacing them.
    public var priorStatisticsUpdates = 0

    public init(network: KeypointNetwork, config: TrainingConfig) {
        self.network = network
        self.config = config
        optimizer = Optimizer(config.optimizer, weightDecay: config.weightDecay, layout: network.store.layout)
    }

    /// The learning rate for a step in a given epoch.
    public func learningRate(step: Int, epoch: Int) -> Float {
        let fineTuning = config.freezeBackboneEpochs > 0 && epoch >= config.freezeBackboneEpochs
        return config.learningRate * config.schedule.factor(at: step) * (fineTuning ? config.fineTuneFactor : 1)
    }

    private func trainable(_ spec: TensorSpec) -> Bool {
        !(network.backboneFrozen && spec.name.hasPrefix("backbone."))
    }

    /// Forward + loss + backward for one batch, writing gradients; returns the loss.
    /// The dropout seed defaults to one derived from (run seed, step), never from the process;
    /// data-parallel training passes one per micro-batch.
    public func computeGradients(_ batch: KeypointBatch, normalizer: Float? = nil, dropoutSeed: UInt64? = nil) throws -> Float {
        let x = try network.input(batch: batch.count)
        try x.load(plain: batch.images)
        let seed = dropoutSeed ?? config.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step)
        let predictions = try network.forward(x, mode: .training(seed: seed)).plain()
        let (loss, gradient) = config.loss.evaluate(predictions: predictions, targets: batch.targets,
                                                    mask: batch.mask, normalizer: normalizer)
        try network.backward(gradient)
        return loss
    }

    /// One full training step on `batch` in `epoch`.
    public func trainStep(_ batch: KeypointBatch, epoch: Int) throws -> StepReport {
        prepare(epoch: epoch)
        let loss = try computeGradients(batch)
        return try applyGradients(loss: loss, epoch: epoch)
    }

    /// Freezes or unfreezes the backbone as the schedule says for `epoch`.
    public func prepare(epoch: Int) {
        network.backboneFrozen = epoch < config.freezeBackboneEpochs
    }

    /// The optimizer half of a step: clips the gradients in `store.gradients` (already summed and
    /// normalised) and applies the update; `loss` is only checked and reported.
    public func applyGradients(loss: Float, epoch: Int) throws -> StepReport {
        guard loss.isFinite else {
            throw ModelError("loss became \(loss) at step \(step); lower the learning rate (now \(learningRate(step: step, epoch: epoch)))")
        }
        let store = network.store
        let norm = clipGlobalNorm(store.gradients, specs: store.layout.parameters, maxNorm: config.clipNorm, active: trainable)
        let lr = learningRate(step: step, epoch: epoch)
        optimizer.step(parameters: store.parameters, gradients: store.gradients, lr: lr, active: trainable)
        step += 1
        return StepReport(loss: loss, gradientNorm: norm, learningRate: lr)
    }

    /// Mean loss and metrics over batches, in inference mode.
    public func evaluate(_ batches: [KeypointBatch]) throws -> (loss: Float, metrics: KeypointMetrics) {
        var predictions: [Float] = [], targets: [Float] = [], mask: [Float] = []
        for b in batches {
            let x = try network.input(batch: b.count)
            try x.load(plain: b.images)
            predictions += try network.forward(x, mode: .inference).plain()
            targets += b.targets
            mask += b.mask
        }
        let loss = config.loss.evaluate(predictions: predictions, targets: targets, mask: mask).loss
        return (loss, KeypointMetrics(predictions: predictions, targets: targets, mask: mask, size: network.config.backbone.inputSize))
    }
}
