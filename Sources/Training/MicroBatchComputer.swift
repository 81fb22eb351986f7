// One micro-batch's forward, masked loss (on the coordinates, plus the head's distribution loss) and backward: the compute of a training step. Workers run
// it on samples they were sent; the single-process path runs this same code on samples its
// background loader rendered. Both render through `BatchLoader.load` with the run's renderer.
import Data
import Foundation
import Model

/// What one micro-batch produced. Gradients are the *sum* over its labelled coordinates (loss
/// normaliser 1), so micro-batches can be added and divided by the step's labelled count.
public struct MicroBatchResult: Sendable {
    public var index: Int
    public var lossSum: Float
    /// Labelled coordinates in the micro-batch (2 per labelled, in-frame keypoint).
    public var labelled: Float
    public var samples: Int
    /// [parameterCount], same layout as the parameter buffer.
    public var gradients: [Float]
    /// [statisticCount] BN batch means/variances, or nil when the backbone is frozen.
    public var batchStatistics: [Float]?
    /// Samples that could not be decoded (skipped), with the reason.
    public var failures: [String]
    /// Wall time of the computation, seconds.
    public var computeSeconds: Double = 0

    public init(index: Int, lossSum: Float, labelled: Float, samples: Int, gradients: [Float],
                batchStatistics: [Float]?, failures: [String]) {
        self.index = index
        self.lossSum = lossSum
        self.labelled = labelled
        self.samples = samples
        self.gradients = gradients
        self.batchStatistics = batchStatistics
        self.failures = failures
    }

    /// An empty micro-batch (every sample failed to load): adds nothing to the step.
    public static func empty(index: Int, parameterCount: Int, failures: [String] = []) -> MicroBatchResult {
        MicroBatchResult(index: index, lossSum: 0, labelled: 0, samples: 0,
                         gradients: [Float](repeating: 0, count: parameterCount), batchStatistics: nil, failures: failures)
    }
}

/// Computes micro-batch gradients with a network whose weights the caller keeps up to date.
public final class MicroBatchComputer {
    public let config: RunConfig
    public let network: KeypointNetwork

    /// A computer with a network of its own (a worker: weights arrive by message).
    public convenience init(config: RunConfig) throws {
        self.init(config: config, network: try KeypointNetwork(config.model, precision: config.computePrecision))
    }

    /// A computer over `network` (the single-process path: the engine's own network).
    public init(config: RunConfig, network: KeypointNetwork) {
        self.config = config
        self.network = network
    }

    /// Forward + loss + backward of micro-batch `index` of `step` (in `epoch`), rendered in `batch`.
    /// Gradients come back in the result (the network's gradient buffer is scratch).
    /// `weightsNeeded(t)`: before the forward's next layers, parameter tensors 0..<t must hold
    /// this step's weights (see ``KeypointNetwork/forward(_:mode:weightsNeeded:)``); return once they do.
    /// `gradientsReady(t)`: during backward, the gradients of parameter tensors t... in
    /// `network.store.gradients` are final (see ``KeypointNetwork/backward(_:gradientsReady:)``);
    /// frozen tensors are never reported, and are zero in the result.
    public func compute(_ batch: LoadedBatch, step: Int, epoch: Int, index: Int, weightsNeeded: ((Int) throws -> Void)? = nil,
                        gradientsReady: ((Int) -> Void)? = nil) throws -> MicroBatchResult {
        let started = Date()
        let failures = batch.failures.map(\.description)
        network.backboneFrozen = config.training.backboneFrozen(epoch: epoch)
        guard batch.count > 0 else {
            return .empty(index: index, parameterCount: network.store.layout.parameterCount, failures: failures)
        }
        let x = try network.input(batch: batch.count)
        try x.load(plain: batch.images)
        let seed = StepPlan.dropoutSeed(seed: config.training.seed, step: step, microBatch: index)
        let predictions = try network.forward(x, mode: .training(seed: seed), weightsNeeded: weightsNeeded).plain()
        let (coordinateLoss, gradient) = config.training.loss.evaluate(predictions: predictions, targets: batch.targets,
                                                                       mask: batch.mask, normalizer: 1)
        let loss = coordinateLoss + (try network.head.distributionLoss(targets: batch.targets, mask: batch.mask))
        try network.backward(gradient, gradientsReady: gradientsReady)
        var result = MicroBatchResult(index: index, lossSum: loss, labelled: 2 * batch.mask.reduce(0, +), samples: batch.count,
                                      gradients: trainableGradients(), batchStatistics: network.batchStatistics(),
                                      failures: failures)
        result.computeSeconds = Date().timeIntervalSince(started)
        return result
    }

    /// The gradient buffer, with zeros for frozen tensors (which the backward did not write).
    private func trainableGradients() -> [Float] {
        let store = network.store
        var gradients = store.gradients.array
        if network.backboneFrozen {
            for spec in store.layout.parameters where spec.name.hasPrefix("backbone.") {
                gradients.replaceSubrange(spec.range, with: repeatElement(0, count: spec.count))
            }
        }
        return gradients
    }
}
