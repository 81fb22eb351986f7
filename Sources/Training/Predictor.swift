// Inference on whole images: fit each to the network input, predict, and map the keypoints back
// to the original image's pixels.
import Data
import Foundation
import Model
import ModelFiles

public struct Predictor {
    public let network: KeypointNetwork
    /// What runs: the network with BN folded into its convolutions (same predictions, faster).
    public let folded: FoldedNetwork
    public let resize: ResizeMode
    public let names: [String]

    /// Loads a saved model folder; the resize mode it was trained with comes from its manifest.
    public init(model path: String) throws {
        let url = URL(fileURLWithPath: path)
        network = try SavedModel.load(from: url)
        folded = try FoldedNetwork(network)
        let manifest = try SavedModel.manifest(at: url)
        resize = manifest.training["resize"].flatMap(ResizeMode.init(rawValue:)) ?? .letterbox
        names = manifest.model.keypointNames
    }

    /// Flip test-time augmentation: the average of the predictions on each image and on its mirror
    /// image (mirrored back, with the left/right `flipPairs` swapped back).
    public func predictWithFlip(_ images: [RGBImage], flipPairs: [[Int]], batch: Int = 32) throws -> [[Float]] {
        let plain = try predict(images, batch: batch)
        let mirrored = try predict(images.map { $0.mirrored() }, batch: batch)
        return images.indices.map { i in
            let back = mirroredKeypoints(mirrored[i], width: images[i].width, flipPairs: flipPairs)
            return zip(plain[i], back).map { ($0 + $1) / 2 }
        }
    }

    /// Keypoints [2K] in pixels of each original image, `batch` images per forward pass.
    public func predict(_ images: [RGBImage], batch: Int = 32) throws -> [[Float]] {
        let size = network.config.backbone.inputSize, k = names.count
        let renderer = SampleRenderer(size: size, resize: resize, description: DatasetDescription(keypointNames: names))
        var out: [[Float]] = []
        for start in stride(from: 0, to: images.count, by: batch) {
            let chunk = images[start..<min(start + batch, images.count)]
            let rendered = chunk.map { renderer.render($0, keypoints: [Float](repeating: 0, count: 2 * k),
                                                       visibility: [UInt8](repeating: 0, count: k)) }
            let predictions = try folded.predict(rendered.flatMap(\.pixels), batch: rendered.count)
            for (i, r) in rendered.enumerated() {
                var points = [Float](repeating: 0, count: 2 * k)
                for j in 0..<k {
                    let p = r.mapping.toOriginal(Double(predictions[i * 2 * k + 2 * j]) * Double(size),
                                                 Double(predictions[i * 2 * k + 2 * j + 1]) * Double(size))
                    points[2 * j] = Float(p.x)
                    points[2 * j + 1] = Float(p.y)
                }
                out.append(points)
            }
        }
        return out
    }
}
