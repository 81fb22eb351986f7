// Which samples each step trains on, and in which micro-batches: a function of (seed, epoch, step)
// alone, never of the number of workers. This is what makes N workers equal one process.
import Compute

/// `ceil(a / b)` for positive `b`: steps per epoch, micro-batches per step.
public func ceilDivide(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }

/// The cut of every step into micro-batches of dataset indices.
public struct StepPlan: Sendable {
    /// Training samples in the dataset.
    public let samples: Int
    /// Samples per optimizer step (the global batch).
    public let batchSize: Int
    /// Samples per micro-batch (the unit of work).
    public let microBatch: Int
    public let seed: UInt64

    public init(samples: Int, batchSize: Int, microBatch: Int, seed: UInt64) {
        self.samples = samples
        self.batchSize = batchSize
        self.microBatch = microBatch
        self.seed = seed
    }

    public init(samples: Int, config: RunConfig) {
        self.init(samples: samples, batchSize: config.training.batchSize, microBatch: config.microBatch,
                  seed: config.training.seed)
    }

    /// Steps in one pass over the data (the last batch may be short).
    public var stepsPerEpoch: Int { ceilDivide(samples, batchSize) }
    /// Micro-batches in a full step (an epoch's last step may have fewer).
    public var microBatchesPerStep: Int { ceilDivide(batchSize, microBatch) }

    /// Steps in `epochs` passes.
    public func totalSteps(epochs: Int) -> Int { epochs * stepsPerEpoch }

    /// The epoch global step `step` belongs to.
    public func epoch(of step: Int) -> Int { step / stepsPerEpoch }

    /// True when `step` (the number of steps applied so far) ends an epoch.
    public func endsEpoch(afterSteps step: Int) -> Bool { step > 0 && step % stepsPerEpoch == 0 }

    /// The permutation of sample indices for `epoch`.
    public func order(epoch: Int) -> [Int] {
        var rng = SplitMix64(seed: seed, stream: 0x0DE2 &+ UInt64(epoch))
        return Array(0..<samples).shuffled(using: &rng)
    }

    /// The micro-batches (lists of dataset indices) of global step `step`, in reduction order.
    public func microBatches(step: Int) -> (epoch: Int, batches: [[Int]]) {
        let epoch = self.epoch(of: step), within = step % stepsPerEpoch
        let order = self.order(epoch: epoch)
        let chosen = Array(order[(within * batchSize)..<min((within + 1) * batchSize, samples)])
        let batches = stride(from: 0, to: chosen.count, by: microBatch).map {
            Array(chosen[$0..<min($0 + microBatch, chosen.count)])
        }
        return (epoch, batches)
    }

    /// The work of global step `step`.
    public func work(step: Int) -> StepWork {
        let (epoch, batches) = microBatches(step: step)
        return StepWork(step: step, epoch: epoch, microBatches: batches)
    }

    /// The dropout seed of micro-batch `index` of `step`.
    public static func dropoutSeed(seed: UInt64, step: Int, microBatch index: Int) -> UInt64 {
        var rng = SplitMix64(seed: seed ^ 0xD50F, stream: UInt64(step) &* 4096 &+ UInt64(index))
        return rng.next()
    }
}

/// One step's work: its global step, epoch, and micro-batches of dataset indices in reduction order.
public struct StepWork: Sendable, Equatable {
    public var step: Int
    public var epoch: Int
    public var microBatches: [[Int]]
    public init(step: Int, epoch: Int, microBatches: [[Int]]) {
        self.step = step; self.epoch = epoch; self.microBatches = microBatches
    }
}
