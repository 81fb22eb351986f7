// `keypoints augment-preview`: a grid PNG of augmented training samples with their keypoints drawn,
// to see that labels follow the pixels.
import ArgumentParser
import Data
import Foundation

struct AugmentPreview: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment-preview",
        abstract: "Write a PNG grid of augmented samples with their keypoints drawn.")

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var augment: AugmentOptions
    @Option(name: .customLong("input-size"), help: "Network input side in pixels.") var inputSize: Int = 224
    @Option(help: "Number of samples in the grid.") var count: Int = 16
    @Option(help: "Which epoch's augmentation to show.") var epoch: Int = 0
    @Option(help: "Seed of the augmentation (as for train).") var seed: UInt64 = 0
    @Option(help: "PNG file to write.") var out: String = "augment-preview.png"

    func validate() throws {
        guard dataOptions.data != nil else { throw ValidationError("--data is needed: the labels whose images to preview") }
    }

    func run() throws {
        let labels = dataOptions.data!
        let dataset = try KeypointDataset.load(labels: labels, description: dataOptions.describe, skipBad: dataOptions.skipBad)
        try augment.config(for: dataset.description).validate(for: dataset.description, labels: labels)
        let renderer = SampleRenderer(size: inputSize, resize: dataOptions.resize, description: dataset.description)
        let loader = BatchLoader(source: dataset.sampleSource, renderer: renderer, augmentation: augment.config(for: dataset.description),
                                 seed: seed, threads: dataOptions.loaderThreads)
        let batch = loader.load(epoch: epoch, indices: Array(0..<min(count, dataset.count)))
        let plane = 3 * inputSize * inputSize, k = dataset.description.keypointCount
        var tiles: [RGBImage] = []
        for i in 0..<batch.count {
            var tile = RGBImage(planes: Array(batch.images[(i * plane)..<((i + 1) * plane)]), size: inputSize)
            let targets = batch.targets[(2 * k * i)..<(2 * k * (i + 1))].map { $0 * Float(inputSize) }
            let visible = batch.mask[(k * i)..<(k * (i + 1))].map { $0 > 0 }
            tile.drawKeypoints(targets, visible: visible, skeleton: dataset.description.skeleton,
                               radius: max(2, Double(inputSize) / 70))
            tiles.append(tile)
        }
        let columns = Int(Double(tiles.count).squareRoot().rounded(.up))
        try ImageCodec.encodePNG(RGBImage.grid(tiles, columns: columns)).write(to: URL(fileURLWithPath: out), options: .atomic)
        print("wrote \(out): \(tiles.count) augmented samples (epoch \(epoch), seed \(seed)); keypoint colours in label order")
    }
}
