// Turns dataset samples into network batches (pixels scaled to [-1, 1], targets normalised).
import Compute
import Data
import Model

struct BatchAssembler {
    /// Network input side in pixels; samples must already be this size.
    let size: Int

    /// Consecutive batches of at most `batchSize` samples, in order.
    func batches(_ samples: [KeypointSample], batchSize: Int) -> [KeypointBatch] {
        stride(from: 0, to: samples.count, by: batchSize).map { start in
            batch(Array(samples[start..<min(start + batchSize, samples.count)]))
        }
    }

    func batch(_ samples: [KeypointSample]) -> KeypointBatch {
        var images: [Float] = [], targets: [Float] = [], mask: [Float] = []
        images.reserveCapacity(samples.count * 3 * size * size)
        for s in samples {
            precondition(s.width == size && s.height == size, "sample is \(s.width)x\(s.height), network input is \(size)")
            images += s.normalizedCHW()
            targets += s.keypoints.map { $0 / Float(size) }
            mask += s.visibility.map { $0 > 0 ? 1 : 0 }
        }
        return KeypointBatch(images: images, targets: targets, mask: mask, count: samples.count)
    }

    /// A permutation of 0..<count that depends only on (seed, epoch).
    static func shuffled(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = SplitMix64(seed: seed, stream: 0x0DE2 &+ UInt64(epoch))
        return Array(0..<count).shuffled(using: &rng)
    }

    /// Metrics of always predicting the mean training keypoints: the bar a model must clear.
    static func meanShapeMetrics(train: [KeypointSample], validation: [KeypointSample], size: Int) -> KeypointMetrics {
        let k2 = train[0].keypoints.count
        var mean = [Float](repeating: 0, count: k2)
        for s in train { for i in 0..<k2 { mean[i] += s.keypoints[i] / Float(size) / Float(train.count) } }
        let predictions: [Float] = Array(validation.map { _ in mean }.joined())
        let targets: [Float] = validation.flatMap { sample in sample.keypoints.map { $0 / Float(size) } }
        let mask: [Float] = validation.flatMap { sample in sample.visibility.map { $0 > 0 ? 1 : 0 } }
        return KeypointMetrics(predictions: predictions, targets: targets, mask: mask, size: size)
    }
}
