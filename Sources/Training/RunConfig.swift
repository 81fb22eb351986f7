// Everything that fixes a run's maths: the model, the optimizer settings, the data conventions and
// the micro-batch size. Sent to every worker in the welcome message and stored in every checkpoint.
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
    /// How many BN statistics updates the starting running statistics already stand for (see
    /// ``BatchNormStatistics``): 0 for a fresh network, ``BatchNormStatistics/importedPrior`` when the
    /// backbone came from `--init-from`.
    public var statisticsPriorUpdates: Int
    /// What validation NME and PCK are normalised by (``Normalizer/spec``: `diagonal`, `bbox`,
    /// `pair:A,B`); the best model is the one with the lowest NME by it.
    public var normalize: String
    /// How weights and gradients travel between coordinator and workers (`--wire-precision`).
    public var wirePrecision: WirePrecision
    /// What the backbone's convolutions multiply in (`--precision`): every worker of a run computes
    /// in this one; weights, optimizer state, reduction and BN statistics are f32 whatever it is.
    public var computePrecision: ComputePrecision

    public init(model: ModelConfig, training: TrainingConfig, description: DatasetDescription,
                resize: ResizeMode, augmentation: AugmentationConfig, microBatch: Int, statisticsPriorUpdates: Int = 0,
                normalize: String = Normalizer.diagonal.spec, wirePrecision: WirePrecision = .f32,
                computePrecision: ComputePrecision = .f32) {
        self.model = model
        self.training = training
        self.description = description
        self.resize = resize
        self.augmentation = augmentation
        self.microBatch = microBatch
        self.statisticsPriorUpdates = statisticsPriorUpdates
        self.normalize = normalize
        self.wirePrecision = wirePrecision
        self.computePrecision = computePrecision
    }

    private enum CodingKeys: String, CodingKey {
        case model, training, description, resize, augmentation, microBatch, statisticsPriorUpdates, normalize, wirePrecision
        case computePrecision
    }

    /// Reads a configuration; runs recorded before `wirePrecision` and `computePrecision` existed
    /// travelled and computed in f32.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelConfig.self, forKey: .model)
        training = try c.decode(TrainingConfig.self, forKey: .training)
        description = try c.decode(DatasetDescription.self, forKey: .description)
        resize = try c.decode(ResizeMode.self, forKey: .resize)
        augmentation = try c.decode(AugmentationConfig.self, forKey: .augmentation)
        microBatch = try c.decode(Int.self, forKey: .microBatch)
        statisticsPriorUpdates = try c.decode(Int.self, forKey: .statisticsPriorUpdates)
        normalize = try c.decode(String.self, forKey: .normalize)
        wirePrecision = try c.decodeIfPresent(WirePrecision.self, forKey: .wirePrecision) ?? .f32
        computePrecision = try c.decodeIfPresent(ComputePrecision.self, forKey: .computePrecision) ?? .f32
    }

    /// The validation normaliser (a configuration that passed the CLI's checks always parses).
    public var normalizer: Normalizer {
        (try? Normalizer(spec: normalize, keypointNames: description.keypointNames)) ?? .diagonal
    }

    /// The renderer every path uses to turn a decoded image into a network sample.
    public var renderer: SampleRenderer {
        SampleRenderer(size: model.backbone.inputSize, resize: resize, description: description)
    }
}
