// `keypoints train`: single-process training on the generated dataset, with final metrics.
import ArgumentParser
import Compute
import Data
import Foundation
import Model

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a keypoint regressor in this process and print validation metrics.")

    @OptionGroup var compute: ComputeOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var training: TrainingOptions

    @Option(help: "Generate this many training images (synthetic cards, 4 corners).")
    var synthetic: Int = 512
    @Option(help: "Generate this many validation images (disjoint from the training ones).")
    var validation: Int = 128
    @Option(help: "Folder to save the trained model in (model.safetensors + model.json).")
    var out: String?

    func validate() throws {
        guard synthetic >= 1, validation >= 1 else { throw ValidationError("--synthetic and --validation must be at least 1") }
    }

    func run() throws {
        useLineBufferedOutput()
        Engine.setThreads(compute.threads)
        let modelConfig = try model.config(keypoints: 4, names: SyntheticQuads.keypointNames)
        let config = try training.config(inputSize: modelConfig.backbone.inputSize, samples: synthetic)
        let network = try KeypointNetwork(modelConfig)
        model.initializer.initialise(network.store, seed: config.seed)
        let trainer = Trainer(network: network, config: config)

        let size = modelConfig.backbone.inputSize
        let generator = SyntheticQuads(size: size, seed: config.seed &+ 1)
        let trainSet = (0..<synthetic).map { generator.sample($0) }
        let valSet = (synthetic..<(synthetic + validation)).map { generator.sample($0) }
        let valBatches = BatchAssembler(size: size).batches(valSet, batchSize: config.batchSize)
        print("training MobileNetV1 alpha \(modelConfig.backbone.alpha) at \(size)px, K=4, "
              + "\(network.store.layout.parameterCount) parameters, \(synthetic) train / \(validation) val images, "
              + "\(compute.threads) thread(s)")

        let start = Date()
        for epoch in 0..<config.epochs {
            let epochStart = Date()
            let order = BatchAssembler.shuffled(count: trainSet.count, seed: config.seed, epoch: epoch)
            let batches = BatchAssembler(size: size).batches(order.map { trainSet[$0] }, batchSize: config.batchSize)
            var lossSum: Float = 0
            for b in batches { lossSum += try trainer.trainStep(b, epoch: epoch).loss }
            let seconds = Date().timeIntervalSince(epochStart)
            let (valLoss, metrics) = try trainer.evaluate(valBatches)
            print(String(format: "epoch %3d  train loss %.5f  val loss %.5f  %@  %.1f img/s%@", epoch + 1,
                         lossSum / Float(batches.count), valLoss, metrics.summary, Double(trainSet.count) / seconds,
                         network.backboneFrozen ? "  (backbone frozen)" : ""))
        }
        let (valLoss, metrics) = try trainer.evaluate(valBatches)
        let baseline = BatchAssembler.meanShapeMetrics(train: trainSet, validation: valSet, size: size)
        print("final validation: loss \(valLoss), \(metrics.summary)")
        print("mean-shape baseline (predict the average training corners): \(baseline.summary)")
        print(String(format: "trained %d steps in %.1f s", trainer.step, Date().timeIntervalSince(start)))
        if let out {
            try SavedModel.save(network, to: URL(fileURLWithPath: out), training: [
                "steps": "\(trainer.step)", "val_loss": "\(valLoss)", "val_nme": "\(metrics.nme)",
            ])
            print("saved model to \(out)")
        }
    }
}
