// Random, label-preserving augmentation: what to draw for a sample, seeded by (run seed, epoch,
// sample index) so the same sample gets the same augmentation whichever process handles it.
import Compute
import Foundation

/// Ranges of the random changes applied to training samples. Angles in degrees; translation as a
/// fraction of the network input side; colour changes as relative amounts (0.2 = up to ±20%);
/// noise as the standard deviation in 0...255 pixel units.
public struct AugmentationConfig: Sendable, Codable, Equatable {
    public var rotation: Double = 15
    public var scaleMin: Double = 0.85
    public var scaleMax: Double = 1.15
    public var translation: Double = 0.08
    public var shear: Double = 0
    /// Probability of a horizontal flip; needs the dataset's left/right pairs declared.
    public var flipProbability: Double = 0
    public var brightness: Double = 0.2
    public var contrast: Double = 0.2
    public var saturation: Double = 0.2
    public var blurProbability: Double = 0.1
    /// Largest Gaussian blur sigma, network pixels.
    public var blurSigma: Double = 1.2
    public var noise: Double = 3

    public init() {}

    /// No augmentation at all (validation, evaluation, prediction).
    public static let none: AugmentationConfig = {
        var c = AugmentationConfig()
        c.rotation = 0; c.scaleMin = 1; c.scaleMax = 1; c.translation = 0; c.shear = 0; c.flipProbability = 0
        c.brightness = 0; c.contrast = 0; c.saturation = 0; c.blurProbability = 0; c.noise = 0
        return c
    }()

    /// Refuses flipping when the dataset has not said which keypoints swap.
    public func validate(for description: DatasetDescription, labels: String) throws {
        if flipProbability > 0 && !description.flipPairsDeclared {
            throw DataError(labels, "horizontal flips were asked for, but the dataset does not declare its left/right "
                + "keypoint pairs, so flipped labels would be wrong; add \"flip_pairs\" to the dataset description "
                + "(an empty list if no keypoints swap) or turn flipping off")
        }
    }

    /// The concrete changes for one sample in one epoch.
    public func draw(seed: UInt64, epoch: Int, index: Int) -> SampleAugmentation {
        var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x632B_E59B_D9B4_E019, stream: UInt64(index))
        func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * Double(rng.nextUnit()) }
        var s = SampleAugmentation()
        s.rotation = uniform(-rotation, rotation) * .pi / 180
        s.scale = uniform(scaleMin, scaleMax)
        s.translateX = uniform(-translation, translation)
        s.translateY = uniform(-translation, translation)
        s.shear = tan(uniform(-shear, shear) * .pi / 180)
        s.flip = uniform(0, 1) < flipProbability
        s.brightness = 1 + uniform(-brightness, brightness)
        s.contrast = 1 + uniform(-contrast, contrast)
        s.saturation = 1 + uniform(-saturation, saturation)
        s.blurSigma = uniform(0, 1) < blurProbability ? uniform(0.3, blurSigma) : 0
        s.noise = noise
        s.noiseSeed = rng.next()
        return s
    }
}

/// One sample's drawn augmentation. The identity value changes nothing.
public struct SampleAugmentation: Sendable, Equatable {
    public var rotation = 0.0, scale = 1.0, translateX = 0.0, translateY = 0.0, shear = 0.0
    public var flip = false
    public var brightness = 1.0, contrast = 1.0, saturation = 1.0
    public var blurSigma = 0.0, noise = 0.0
    public var noiseSeed: UInt64 = 0

    public init() {}

    /// The geometric part in network-input pixels of a `size` x `size` frame: flip, then rotation,
    /// scale and shear about the centre, then translation.
    public func geometry(size: Int) -> Affine {
        let c = Double(size) / 2
        let flipX = flip ? Affine(a: -1, b: 0, c: Double(size), d: 0, e: 1, f: 0) : .identity
        let around = Affine.scale(scale, scale).after(.rotation(rotation)).after(.shear(shear)).about(c, c)
        return Affine.translation(translateX * Double(size), translateY * Double(size)).after(around).after(flipX)
    }
}
