// The optimizer side of training: the training configuration and the state one step updates
// (network, optimizer, step counter).
import Compute

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
    public init(loss: Float, gradientNorm: Float, learningRate: Float) {
        self.loss = loss; self.gradientNorm = gradientNorm; self.learningRate = learningRate
    }
}

extension TrainingConfig {
    /// True while `epoch` is one of the head-only epochs (backbone frozen, BN in inference mode).
    public func backboneFrozen(epoch: Int) -> Bool { epoch < freezeBackboneEpochs }
}

/// A network, its optimizer and the step counter: the state a training step updates. The step loop
/// itself (micro-batches, reduction, BN statistics) is the `Training` target's `TrainingEngine`.
public final class Trainer {
    public let network: KeypointNetwork
    public let config: TrainingConfig
    public let optimizer: Optimizer
    /// Steps done so far (applied or skipped; the 0-based index of the next step). Advanced by the
    /// training engine only; set when resuming from a checkpoint.
    public var step = 0

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

    /// The optimizer half of step `step`: clips the gradients in `store.gradients` (already summed
    /// and normalised) and applies the update for `epoch` (the backbone frozen or not as the schedule
    /// says for it); `loss` is only reported. Does not advance
    /// `step` (the engine does, for applied and skipped steps alike).
    public func applyGradients(loss: Float, epoch: Int) -> StepReport {
        network.backboneFrozen = config.backboneFrozen(epoch: epoch)
        let store = network.store
        let norm = clipGlobalNorm(store.gradients, specs: store.layout.parameters, maxNorm: config.clipNorm, active: trainable)
        let lr = learningRate(step: step, epoch: epoch)
        optimizer.step(parameters: store.parameters, gradients: store.gradients, lr: lr, active: trainable)
        return StepReport(loss: loss, gradientNorm: norm, learningRate: lr)
    }
}
