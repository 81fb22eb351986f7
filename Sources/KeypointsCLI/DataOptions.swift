// Command-line flags that say where the data is, how images become network inputs, and how
// training samples are augmented.
import ArgumentParser
import Data

struct DataOptions: ParsableArguments {
    @Option(help: "Training labels: a CSV (image,x1,y1,...) or COCO keypoints JSON file (a resumed run reads its own).")
    var data: String?
    @Option(help: "Validation labels (same format and keypoints); default: split off --val-fraction of --data.")
    var val: String?
    @Option(name: .customLong("val-fraction"), help: "Fraction of --data held out for validation when --val is not given.")
    var valFraction: Double = 0.1
    @Option(help: "Dataset description (keypoint names, flip_pairs, skeleton); default: found next to the labels.")
    var describe: String?
    @Option(help: "How images become square network inputs: letterbox (keep aspect, pad) or stretch.")
    var resize: ResizeMode = .letterbox
    @Flag(name: .customLong("skip-bad"), help: "Skip bad samples (reported) instead of stopping before training.")
    var skipBad = false
    @Option(name: .customLong("loader-threads"), help: "Threads decoding and augmenting images in the background.")
    var loaderThreads: Int = 1

    func validate() throws {
        guard valFraction >= 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        guard loaderThreads >= 1 else { throw ValidationError("--loader-threads must be at least 1") }
    }
}

extension ResizeMode: ExpressibleByArgument {}

struct AugmentOptions: ParsableArguments {
    @Flag(name: .customLong("no-augment"), help: "Train on the images as they are.")
    var noAugment = false
    @Option(help: "Largest random rotation, degrees.") var rotation: Double = 5
    @Option(help: "Random scale range, ± this fraction.") var scale: Double = 0.05
    @Option(help: "Random shift, ± this fraction of the input side.") var translate: Double = 0.03
    @Option(help: "Largest random shear, degrees.") var shear: Double = 0
    @Option(help: "Probability of a horizontal flip, which swaps the flip_pairs (default: 0.5 when the dataset description declares flip pairs, else 0).")
    var flip: Double?
    @Option(help: "Colour jitter: brightness, contrast and saturation change, ± this fraction.") var colour: Double = 0.2
    @Option(help: "Probability of a Gaussian blur.") var blur: Double = 0.1
    @Option(help: "Pixel noise standard deviation (0-255 units).") var noise: Double = 3

    /// The augmentation for a dataset described by `description` (which decides the default flip).
    func config(for description: DatasetDescription) -> AugmentationConfig {
        if noAugment { return .none }
        var c = AugmentationConfig()
        c.rotation = rotation
        c.scaleMin = 1 - scale
        c.scaleMax = 1 + scale
        c.translation = translate
        c.shear = shear
        c.flipProbability = flip ?? (description.flipPairsDeclared && !description.flipPairs.isEmpty ? 0.5 : 0)
        c.brightness = colour; c.contrast = colour; c.saturation = colour
        c.blurProbability = blur
        c.noise = noise
        return c
    }
}
