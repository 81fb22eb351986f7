// Command-line flags that choose the network and how it is trained, turned into library configs.
import ArgumentParser
import Foundation
import Model
import Training

struct ModelOptions: ParsableArguments {
    @Option(help: "Width multiplier: 0.25, 0.5, 0.75 or 1.0 (default: the --init-from backbone's, else 1.0).")
    var alpha: Double?
    @Option(name: .customLong("input-size"), help: "Square network input in pixels, a multiple of 32 from 96 to 224.")
    var inputSize: Int = 224
    @Option(help: "Head: regression (pooled, the Keras recipe), heatmap (soft-argmax maps) or simcc (per-axis bins).")
    var head: HeadKind = .regression
    @Option(name: .customLong("feature-stride"),
            help: "Backbone output stride, 16 (blocks 1-11) or 32 (all 13) (default: 32 for regression, 16 otherwise).")
    var featureStride: Int?
    @Option(help: "regression head: units of the hidden Dense layer.")
    var hidden: Int = 1024
    @Option(help: "regression head: dropout rate before the output layer.")
    var dropout: Float = 0
    @Option(name: .customLong("heatmap-upsample"), help: "heatmap head: bilinear upsampling of the maps, 1 or 2.")
    var heatmapUpsample: Int = 2
    @Option(name: .customLong("simcc-split"), help: "simcc head: bins per input pixel on each axis, 1-4.")
    var simccSplit: Int = 2
    @Option(name: .customLong("head-sigma"), help: "heatmap, simcc heads: Gaussian target deviation in input pixels.")
    var headSigma: Float = 2
    @Option(name: .customLong("distribution-weight"),
            help: "heatmap, simcc heads: weight of the KL loss on the maps or bins beside the coordinate loss (0 = off).")
    var distributionWeight: Float = 0
    @Option(name: .customLong("init"), help: "Weight initialiser: he, glorot or torch.")
    var initializer: Initializer = .he
    @Option(name: .customLong("init-from"),
            help: "Start the backbone from this folder (import-weights output or a saved model); the head starts fresh.")
    var initFrom: String?

    func validate() throws {
        do {
            try backbone(alpha: alpha ?? 1.0).validate()
            try headConfig.validate()
        } catch let e as ModelError {
            throw ValidationError(e.description)
        }
        guard hidden >= 1 else { throw ValidationError("--hidden must be at least 1") }
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
    }

    private func backbone(alpha: Double) -> MobileNetV1Config {
        MobileNetV1Config(alpha: alpha, inputSize: inputSize, outputStride: featureStride ?? (head == .regression ? 32 : 16))
    }

    private var headConfig: HeadConfig {
        HeadConfig(kind: head, hidden: hidden, dropout: dropout, upsample: heatmapUpsample, splitRatio: simccSplit,
                   sigma: headSigma, distributionWeight: distributionWeight)
    }

    /// The network's settings; with `--init-from`, alpha comes from (and must agree with) that backbone.
    func config(keypoints: Int, names: [String]) throws -> ModelConfig {
        var width = alpha ?? 1.0
        if let initFrom {
            let pretrained = try SavedModel.manifest(at: URL(fileURLWithPath: initFrom)).model.backbone.alpha
            if let alpha, alpha != pretrained {
                throw ValidationError("--alpha \(alpha) does not match the --init-from backbone \(initFrom), which has alpha "
                                      + "\(pretrained); drop --alpha or import the weights for alpha \(alpha)")
            }
            width = pretrained
        }
        let c = ModelConfig(backbone: backbone(alpha: width), head: headConfig,
                            keypoints: keypoints, keypointNames: names)
        do { try c.validate() } catch let e as ModelError { throw ValidationError(e.description) }
        return c
    }
}

extension Initializer: ExpressibleByArgument {}
extension HeadKind: ExpressibleByArgument {}

struct TrainingOptions: ParsableArguments {
    @Option(help: "Passes over the training set.")
    var epochs: Int = 30
    @Option(name: .customLong("batch-size"), help: "Images per optimizer step.")
    var batchSize: Int = 32
    @Option(name: .customLong("lr"), help: "Base learning rate.")
    var learningRate: Float = 1e-3
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
    @Option(help: "Loss: mse, l1, smooth-l1 or wing.")
    var loss: String = "mse"
    @Option(name: .customLong("clip-norm"), help: "Clip the global gradient norm to this (0 = off).")
    var clipNorm: Float = 0
    @Option(name: .customLong("freeze-backbone-epochs"), help: "Train only the head for this many epochs first.")
    var freezeBackboneEpochs: Int = 0
    @Option(name: .customLong("fine-tune-factor"), help: "Learning-rate factor once the backbone is unfrozen.")
    var fineTuneFactor: Float = 0.1
    @Option(help: "Seed for initialisation, data order, augmentation and dropout.")
    var seed: UInt64 = 0

    func validate() throws {
        _ = try config(inputSize: 224, samples: 1)
    }

    func config(inputSize: Int, samples: Int) throws -> TrainingConfig {
        var c = TrainingConfig()
        guard epochs >= 1, batchSize >= 1 else { throw ValidationError("--epochs and --batch-size must be at least 1") }
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
        guard let l = Loss.named(loss, inputSize: inputSize) else {
            throw ValidationError("unknown --loss \(loss); use mse, l1, smooth-l1 or wing")
        }
        c.loss = l
        return c
    }
}
