// Validation: the held-out samples rendered once (no augmentation), the network's loss and metrics
// on them in inference mode, and the mean-shape baseline a model must beat.
import Data
import Foundation
import Model

public final class Validation {
    public let config: RunConfig
    /// Rendered batches of at most `batchSize` samples.
    private let batches: [LoadedBatch]
    private let training: KeypointDataset
    /// Evaluations so far, and the overlays drawn after the latest (TensorBoard and the status page
    /// both ask for them after each validation: drawn once).
    private var evaluations = 0
    private var drawn: (evaluation: Int, images: [RGBImage])?
    /// The metrics of always predicting the mean training keypoints, computed once.
    public private(set) lazy var meanShape: KeypointMetrics = meanShapeBaseline()

    /// Renders `validation` once; `log` hears of samples that cannot be decoded (left out).
    public init(validation: KeypointDataset, training: KeypointDataset, config: RunConfig, threads: Int,
                log: (String) -> Void) {
        self.config = config
        self.training = training
        let loader = BatchLoader(source: validation.sampleSource, renderer: config.renderer, augmentation: .none, seed: 0,
                                 threads: threads)
        let size = config.training.batchSize
        batches = stride(from: 0, to: validation.count, by: size).compactMap { start in
            let b = loader.load(epoch: 0, indices: Array(start..<min(start + size, validation.count)))
            for failure in b.failures { log("skipped validation sample: \(failure.description)") }
            return b.count > 0 ? b : nil
        }
    }

    private var inputSize: Int { config.model.backbone.inputSize }

    /// Mean loss and metrics (pixels of the network input) of `network` in inference mode.
    public func evaluate(_ network: KeypointNetwork) throws -> (loss: Float, metrics: KeypointMetrics) {
        evaluations += 1
        var predictions: [Float] = []
        for b in batches { predictions += try network.predict(b.images, batch: b.count) }
        let targets = batches.flatMap(\.targets), mask = batches.flatMap(\.mask)
        let loss = config.training.loss.evaluate(predictions: predictions, targets: targets, mask: mask).loss
        return (loss, KeypointMetrics(predictions: predictions, targets: targets, mask: mask, size: inputSize,
                                      keypoints: config.description.keypointCount, normalizer: config.normalizer))
    }

    /// The first `count` validation samples as the network sees them (S x S pixels, letterboxed or
    /// stretched), with the network's predictions and the true keypoints drawn (see
    /// `RGBImage.withPredictions`): what TensorBoard shows of an epoch.
    public func overlays(_ network: KeypointNetwork, count: Int) throws -> [RGBImage] {
        guard let first = batches.first, count > 0 else { return [] }
        if let drawn, drawn.evaluation == evaluations, drawn.images.count >= min(count, first.count) {
            return Array(drawn.images.prefix(count))
        }
        let size = inputSize, k = config.description.keypointCount, plane = 3 * size * size, scale = Float(size)
        let predictions = try network.predict(first.images, batch: first.count)
        let images = (0..<min(count, first.count)).map { i in
            let points = (2 * k * i)..<(2 * k * (i + 1))
            return RGBImage(planes: Array(first.images[(plane * i)..<(plane * (i + 1))]), size: size)
                .withPredictions(predictions[points].map { $0 * scale }, truth: first.targets[points].map { $0 * scale },
                                 visible: first.mask[(k * i)..<(k * (i + 1))].map { $0 > 0 }, skeleton: config.description.skeleton)
        }
        drawn = (evaluations, images)
        return images
    }

    /// Metrics of always predicting the mean training keypoints (in the network frame).
    private func meanShapeBaseline() -> KeypointMetrics {
        let k = config.description.keypointCount, size = inputSize
        var sum = [Double](repeating: 0, count: 2 * k), count = [Double](repeating: 0, count: k)
        for (i, record) in training.labels.records.enumerated() {
            guard let image = try? ImageCodec.imageSize(training.images[i], path: record.imagePath) else { continue }
            let mapping = FrameMapping(width: image.width, height: image.height, size: size, mode: config.resize)
            for j in 0..<k where record.visibility[j] > 0 {
                let p = mapping.toNetwork(Double(record.keypoints[2 * j]), Double(record.keypoints[2 * j + 1]))
                sum[2 * j] += p.x / Double(size); sum[2 * j + 1] += p.y / Double(size)
                count[j] += 1
            }
        }
        let mean = (0..<(2 * k)).map { Float(sum[$0] / max(count[$0 / 2], 1)) }
        let targets = batches.flatMap(\.targets), mask = batches.flatMap(\.mask)
        let predictions = (0..<(targets.count / (2 * k))).flatMap { _ in mean }
        return KeypointMetrics(predictions: predictions, targets: targets, mask: mask, size: size, keypoints: k,
                               normalizer: config.normalizer)
    }
}
