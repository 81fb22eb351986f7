// A worker's compute: one micro-batch's gradient sum, labelled count and BN batch statistics,
// from samples it holds in memory. The single-process reference runs this same code.
import Compute
import Data
import Foundation
import Model

/// What one micro-batch produced. Gradients are the *sum* over its labelled coordinates (loss
/// normaliser 1), so the coordinator can add micro-batches and divide by the global count.
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
}

extension MicroBatchResult {
    /// The result of the pass the trainer's network just ran backward: its gradients (zeros for
    /// frozen tensors, which that pass did not write) and, unless the backbone is frozen, its BN
    /// batch statistics.
    public static func capture(from trainer: Trainer, index: Int, lossSum: Float, labelled: Float, samples: Int,
                               failures: [String] = []) -> MicroBatchResult {
        let network = trainer.network, store = network.store
        var gradients = store.gradients.array
        if network.backboneFrozen {
            for spec in store.layout.parameters where spec.name.hasPrefix("backbone.") {
                gradients.replaceSubrange(spec.range, with: repeatElement(0, count: spec.count))
            }
        }
        return MicroBatchResult(index: index, lossSum: lossSum, labelled: labelled, samples: samples, gradients: gradients,
                                batchStatistics: network.backboneFrozen ? nil : network.batchStatistics(), failures: failures)
    }

    /// An empty micro-batch (every sample failed to load): adds nothing to the step.
    public static func empty(index: Int, parameterCount: Int, failures: [String] = []) -> MicroBatchResult {
        MicroBatchResult(index: index, lossSum: 0, labelled: 0, samples: 0,
                         gradients: [Float](repeating: 0, count: parameterCount), batchStatistics: nil, failures: failures)
    }
}

/// Holds samples (encoded images and labels) and computes micro-batch gradients with a network
/// whose weights the caller keeps up to date.
public final class MicroBatchComputer {
    public let config: RunConfig
    public let trainer: Trainer
    private let renderer: SampleRenderer
    private var samples: [Int: (image: Foundation.Data, keypoints: [Float], visibility: [UInt8], path: String)] = [:]

    public init(config: RunConfig) throws {
        self.config = config
        trainer = Trainer(network: try KeypointNetwork(config.model), config: config.training)
        renderer = SampleRenderer(size: config.model.backbone.inputSize, resize: config.resize, description: config.description)
    }

    public var network: KeypointNetwork { trainer.network }

    /// Keeps a sample for later micro-batches.
    public func store(index: Int, image: Foundation.Data, keypoints: [Float], visibility: [UInt8], path: String) {
        samples[index] = (image, keypoints, visibility, path)
    }

    public func has(_ index: Int) -> Bool { samples[index] != nil }
    public var heldSamples: Int { samples.count }

    /// Forward + backward of micro-batch `index` of `step` (epoch `epoch`) over dataset `indices`.
    public func compute(step: Int, epoch: Int, index: Int, indices: [Int]) throws -> MicroBatchResult {
        let started = Date()
        var result = try computeUntimed(step: step, epoch: epoch, index: index, indices: indices)
        result.computeSeconds = Date().timeIntervalSince(started)
        return result
    }

    private func computeUntimed(step: Int, epoch: Int, index: Int, indices: [Int]) throws -> MicroBatchResult {
        trainer.prepare(epoch: epoch)
        var images: [Float] = [], targets: [Float] = [], mask: [Float] = []
        var failures: [String] = []
        var count = 0
        for i in indices {
            guard let s = samples[i] else { throw ClusterError("micro-batch \(index) of step \(step) needs sample \(i), which this worker was never sent") }
            do {
                let image = try ImageCodec.decode(s.image, path: s.path)
                let aug = config.augmentation.draw(seed: config.training.seed, epoch: epoch, index: i)
                let r = renderer.render(image, keypoints: s.keypoints, visibility: s.visibility, augmentation: aug)
                images += r.pixels; targets += r.targets; mask += r.mask
                count += 1
            } catch {
                failures.append("\(error)")
            }
        }
        guard count > 0 else {
            return .empty(index: index, parameterCount: network.store.layout.parameterCount, failures: failures)
        }
        let batch = KeypointBatch(images: images, targets: targets, mask: mask, count: count)
        let loss = try trainer.computeGradients(batch, normalizer: 1, dropoutSeed: StepPlan.dropoutSeed(seed: config.training.seed, step: step, microBatch: index))
        return .capture(from: trainer, index: index, lossSum: loss, labelled: 2 * mask.reduce(0, +), samples: count,
                        failures: failures)
    }
}
