// Small real training runs for the engine and cluster tests: generated card photos encoded as PNG
// in memory, a tiny MobileNet configuration, and an engine over the in-process gradient source.
import Data
import Foundation
import Model
import Training

/// `count` generated cards of `size` px wide, each encoded as PNG, with their 4 corners.
public func cardsDataset(count: Int, size: Int = 64, seed: UInt64 = 3) throws -> KeypointDataset {
    let generator = SyntheticCards(size: size, seed: seed)
    var records: [LabelRecord] = [], images: [Foundation.Data] = []
    for i in 0..<count {
        let s = generator.sample(i)
        records.append(LabelRecord(imagePath: "card-\(i).png", keypoints: s.keypoints, visibility: s.visibility, source: "test:\(i)"))
        images.append(try ImageCodec.encodePNG(s.image))
    }
    let labels = LabelSet(records: records, description: DatasetDescription(keypointNames: SyntheticCards.keypointNames),
                          sourceFile: "cards.csv")
    return KeypointDataset(labels: labels, images: images)
}

/// MobileNetV1 alpha 0.25 at 96 px with a `hidden`-unit head, Adam at `lr` (constant), no augmentation.
public func tinyRunConfig(epochs: Int, batchSize: Int, microBatch: Int, lr: Float = 0.01, seed: UInt64 = 5,
                          hidden: Int = 8, freezeBackboneEpochs: Int = 0) -> RunConfig {
    let model = ModelConfig(backbone: MobileNetV1Config(alpha: 0.25, inputSize: 96), head: HeadConfig(hidden: hidden),
                            keypoints: 4, keypointNames: SyntheticCards.keypointNames)
    var training = TrainingConfig()
    training.epochs = epochs
    training.batchSize = batchSize
    training.learningRate = lr
    training.seed = seed
    training.freezeBackboneEpochs = freezeBackboneEpochs
    return RunConfig(model: model, training: training, description: DatasetDescription(keypointNames: SyntheticCards.keypointNames),
                     resize: .letterbox, augmentation: .none, microBatch: microBatch)
}

/// A freshly initialised trainer (He initialisation from the run seed).
public func freshTrainer(_ config: RunConfig) throws -> Trainer {
    let network = try KeypointNetwork(config.model, precision: config.computePrecision)
    Initializer.he.initialise(network.store, seed: config.training.seed)
    return Trainer(network: network, config: config.training)
}

/// The engine training `train` in this process (one loader thread), validating on `validation`.
public func localEngine(_ config: RunConfig, train: KeypointDataset, validation: KeypointDataset? = nil,
                        trainer: Trainer? = nil, history: RunHistory = RunHistory()) throws -> TrainingEngine {
    let trainer = try trainer ?? freshTrainer(config)
    let plan = StepPlan(samples: train.count, config: config)
    let source = LocalGradientSource(dataset: train, computer: MicroBatchComputer(config: config, network: trainer.network),
                                     plan: plan, threads: 1)
    let check = validation.map { Validation(validation: $0, training: train, config: config, threads: 1, log: { _ in }) }
    return TrainingEngine(config: config, trainer: trainer, plan: plan, source: source, validation: check, history: history,
                          log: { _ in })
}
