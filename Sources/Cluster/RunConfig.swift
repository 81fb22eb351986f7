// Everything a worker needs to compute gradients exactly as the coordinator would: sent once in
// the welcome message, and stored in every checkpoint.
import Compute
import Data
import Foundation
import Model

public struct RunConfig: Codable, Sendable, Equatable {
    public var model: ModelConfig
    public var training: TrainingConfig
    public var description: DatasetDescription
    public var resize: ResizeMode
    public var augmentation: AugmentationConfig
    /// Samples per micro-batch: the unit of work. A step's global batch (`training.batchSize`) is
    /// cut into micro-batches of this size, whatever the number of workers.
    public var microBatch: Int

    public init(model: ModelConfig, training: TrainingConfig, description: DatasetDescription,
                resize: ResizeMode, augmentation: AugmentationConfig, microBatch: Int) {
        self.model = model
        self.training = training
        self.description = description
        self.resize = resize
        self.augmentation = augmentation
        self.microBatch = microBatch
    }
}

/// Which samples each step trains on. Depends only on (seed, epoch, step), never on workers.
public struct StepPlan: Sendable {
    public let samples: Int
    public let batchSize: Int
    public let microBatch: Int
    public let seed: UInt64

    public init(samples: Int, batchSize: Int, microBatch: Int, seed: UInt64) {
        self.samples = samples
        self.batchSize = batchSize
        self.microBatch = microBatch
        self.seed = seed
    }

    /// Steps in one pass over the data (the last batch may be short).
    public var stepsPerEpoch: Int { (samples + batchSize - 1) / batchSize }

    /// The permutation of sample indices for `epoch`.
    public func order(epoch: Int) -> [Int] {
        var rng = SplitMix64(seed: seed, stream: 0x0DE2 &+ UInt64(epoch))
        return Array(0..<samples).shuffled(using: &rng)
    }

    /// The micro-batches (lists of dataset indices) of global step `step`, in reduction order.
    public func microBatches(step: Int) -> (epoch: Int, batches: [[Int]]) {
        let epoch = step / stepsPerEpoch, within = step % stepsPerEpoch
        let order = self.order(epoch: epoch)
        let chosen = Array(order[(within * batchSize)..<min((within + 1) * batchSize, samples)])
        let batches = stride(from: 0, to: chosen.count, by: microBatch).map {
            Array(chosen[$0..<min($0 + microBatch, chosen.count)])
        }
        return (epoch, batches)
    }

    /// The dropout seed of micro-batch `index` of `step`.
    public static func dropoutSeed(seed: UInt64, step: Int, microBatch index: Int) -> UInt64 {
        var rng = SplitMix64(seed: seed ^ 0xD50F, stream: UInt64(step) &* 4096 &+ UInt64(index))
        return rng.next()
    }
}
