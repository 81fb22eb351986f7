// Command-line flags that choose the network and how it is trained, turned into library configs.
import ArgumentParser
import Foundation
import Model
import Training
import ModelFiles

struct ModelOptions: ParsableArguments {
    @Option(help: "Width multiplier: 0.25, 0.5, 0.75 or 1.0 (default: the --init-from backbone's, else 0.25).")
    var alpha: Double?
    @Option(name: .customLong("input-size"),
            help: "Square network input in pixels, a multiple of 32 from 96 to 224 (default: the images' median longer side rounded up to a multiple of 32, at least 96 and at most 128).")
    var inputSize: Int?
    @Option(help: "Head: regression (pooled, the Keras recipe), heatmap (soft-argmax maps) or simcc (per-axis bins).")
    var head: HeadKind = .heatmap
    @Option(name: .customLong("feature-stride"),
            help: "Backbone output stride, 16 (blocks 1-11) or 32 (all 13) (default: 32 for regression, 16 otherwise).")
    var featureStride: Int?
    @Option(help: "Channels of an extra depthwise-separable block (3x3 depthwise + 1x1, BN, ReLU6) between the MobileNet blocks and the head; 0 = none.")
    var neck: Int = 0
    @Option(help: "regression head: units of the hidden Dense layer.")
    var hidden: Int = 1024
    @Option(help: "regression head: dropout rate before the output layer.")
    var dropout: Float = 0
    @Option(name: .customLong("heatmap-upsample"), help: "heatmap head: bilinear upsampling of the maps, 1 or 2.")
    var heatmapUpsample: Int = 2
    @Option(name: .customLong("simcc-split"), help: "simcc head: bins per input pixel on each axis, 1-4.")
    var simccSplit: Int = 2
    @Option(name: .customLong("head-sigma"), help: "heatmap, simcc heads: Gaussian target deviation in input pixels.")
    var headSigma: Float = 4
    @Option(name: .customLong("distribution-weight"),
            help: "heatmap, simcc heads: weight of the KL loss on the maps or bins beside the coordinate loss (0 = off).")
    var distributionWeight: Float = 1
    @Option(name: .customLong("init"), help: "Weight initialiser: he, glorot or torch.")
    var initializer: Initializer = .he
    @Option(name: .customLong("init-from"),
            help: "Start the backbone from this folder (import-weights output or a saved model); the head starts fresh.")
    var initFrom: String?

    func validate() throws {
        do {
            try backbone(alpha: alpha ?? Self.defaultAlpha, inputSize: inputSize ?? 96).validate()
            try headConfig.validate()
        } catch let e as ModelError {
            throw ValidationError(e.description)
        }
        guard hidden >= 1 else { throw ValidationError("--hidden must be at least 1") }
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
    }

    /// The width without --alpha or --init-from (docs/STUDY.md).
    static let defaultAlpha = 0.25

    private func backbone(alpha: Double, inputSize: Int) -> MobileNetV1Config {
        MobileNetV1Config(alpha: alpha, inputSize: inputSize, outputStride: featureStride ?? (head == .regression ? 32 : 16),
                          neck: neck)
    }

    /// The default input side for images whose median longer side is `side` pixels: the smallest
    /// multiple of 32 that holds it (upsampling beyond the image adds no detail), from 96 (the
    /// smallest the backbone takes) to 128 (the step cost grows with the square of the side; sizes
    /// above 128 were not measured, docs/STUDY.md).
    static func defaultInputSize(imageSide side: Int?) -> Int {
        guard let side else { return 128 }
        return min(128, max(96, (side + 31) / 32 * 32))
    }

    private var headConfig: HeadConfig {
        HeadConfig(kind: head, hidden: hidden, dropout: dropout, upsample: heatmapUpsample, splitRatio: simccSplit,
                   sigma: headSigma, distributionWeight: distributionWeight)
    }

    /// The network's settings; with `--init-from`, alpha comes from (and must agree with) that
    /// backbone. `imageSide` (the images' median longer side) sets the input size when not given.
    func config(keypoints: Int, names: [String], imageSide: Int?) throws -> ModelConfig {
        var width = alpha ?? Self.defaultAlpha
        if let initFrom {
            let pretrained = try SavedModel.manifest(at: URL(fileURLWithPath: initFrom)).model.backbone.alpha
            if let alpha, alpha != pretrained {
                throw ValidationError("--alpha \(alpha) does not match the --init-from backbone \(initFrom), which has alpha "
                                      + "\(pretrained); drop --alpha or import the weights for alpha \(alpha)")
            }
            width = pretrained
        }
        let size = inputSize ?? Self.defaultInputSize(imageSide: imageSide)
        let c = ModelConfig(backbone: backbone(alpha: width, inputSize: size), head: headConfig,
                            keypoints: keypoints, keypointNames: names)
        do { try c.validate() } catch let e as ModelError { throw ValidationError(e.description) }
        return c
    }
}

extension Initializer: ExpressibleByArgument {}
extension HeadKind: ExpressibleByArgument {}

struct TrainingOptions: ParsableArguments {
    @Option(help: "Passes over the training set.")
    var epochs: Int = 90
    @Option(name: .customLong("batch-size"), help: "Images per optimizer step.")
    var batchSize: Int = 32
    @Option(name: .customLong("lr"), help: "Base learning rate (default: 1e-2 for the heatmap and simcc heads, 4e-3 for regression).")
    var learningRate: Float?
    @Option(help: "adam, adamw or sgd.")
    var optimizer: String = "adam"
    @Option(help: "Momentum for sgd.")
    var momentum: Float = 0.9
    @Flag(help: "Nesterov momentum for sgd.")
    var nesterov = false
    @Option(name: .customLong("weight-decay"), help: "Weight decay on convolution and dense weights.")
    var weightDecay: Float = 0
    @Option(help: "Learning-rate schedule: constant, step or cosine.")
    var schedule: String = "cosine"
    @Option(name: .customLong("warmup-steps"), help: "Linear warm-up steps for the cosine schedule.")
    var warmupSteps: Int = 50
    @Option(name: .customLong("step-every"), help: "For the step schedule: multiply by --gamma every N steps.")
    var stepEvery: Int = 1000
    @Option(help: "For the step schedule: the factor.")
    var gamma: Float = 0.1
    @Option(help: "Loss on the coordinates: mse, l1, smooth-l1 or wing (default: l1 for the heatmap and simcc heads, mse for regression).")
    var loss: String?
    @Option(name: .customLong("clip-norm"), help: "Clip the global gradient norm to this (0 = off).")
    var clipNorm: Float = 0
    @Option(name: .customLong("freeze-backbone-epochs"), help: "Train only the head for this many epochs first.")
    var freezeBackboneEpochs: Int = 0
    @Option(name: .customLong("fine-tune-factor"), help: "Learning-rate factor once the backbone is unfrozen.")
    var fineTuneFactor: Float = 0.1
    @Option(help: "Seed for initialisation, data order, augmentation and dropout.")
    var seed: UInt64 = 0

    func validate() throws {
        _ = try config(inputSize: 224, samples: 1, head: .heatmap)
    }

    /// The optimizer, schedule and loss for `samples` training images at `inputSize`, for `head`
    /// (which picks the default loss).
    func config(inputSize: Int, samples: Int, head: HeadKind) throws -> TrainingConfig {
        var c = TrainingConfig()
        guard epochs >= 1, batchSize >= 1 else { throw ValidationError("--epochs and --batch-size must be at least 1") }
        let learningRate = self.learningRate ?? (head == .regression ? 4e-3 : 1e-2)
        guard learningRate > 0 else { throw ValidationError("--lr must be positive") }
        c.epochs = epochs
        c.batchSize = batchSize
        c.learningRate = learningRate
        c.weightDecay = weightDecay
        c.clipNorm = clipNorm
        c.freezeBackboneEpochs = freezeBackboneEpochs
        c.fineTuneFactor = fineTuneFactor
        c.seed = seed
        switch optimizer {
        case "adam": c.optimizer = .adamDefault
        case "adamw": c.optimizer = .adamwDefault
        case "sgd": c.optimizer = .sgd(momentum: momentum, nesterov: nesterov)
        default: throw ValidationError("unknown --optimizer \(optimizer); use adam, adamw or sgd")
        }
        let stepsPerEpoch = ceilDivide(samples, batchSize)
        switch schedule {
        case "constant": c.schedule = .constant
        case "step": c.schedule = .step(every: stepEvery, gamma: gamma)
        case "cosine": c.schedule = .cosine(warmup: warmupSteps, total: epochs * stepsPerEpoch, floor: LearningRateSchedule.defaultCosineFloor)
        default: throw ValidationError("unknown --schedule \(schedule); use constant, step or cosine")
        }
        let name = loss ?? (head == .regression ? "mse" : "l1")
        guard let l = Loss.named(name, inputSize: inputSize) else {
            throw ValidationError("unknown --loss \(name); use mse, l1, smooth-l1 or wing")
        }
        c.loss = l
        return c
    }
}
