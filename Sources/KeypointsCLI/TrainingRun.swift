// Training a model on a dataset, in this process or with worker processes: the loop, validation
// each epoch, and the final report. Both paths cut each step into the same micro-batches and
// reduce them the same way, so they end with the same weights.
import Cluster
import Compute
import Data
import Foundation
import Model

final class TrainingRun {
    let train: KeypointDataset
    let validation: KeypointDataset
    let trainer: Trainer
    let config: RunConfig
    let loaderThreads: Int
    let plan: StepPlan
    private var validationBatches: [KeypointBatch] = []
    private var epochLoss: (sum: Float, steps: Int, images: Int, start: Date) = (0, 0, 0, Date())
    private let start = Date()
    private let firstStep: Int

    init(train: KeypointDataset, validation: KeypointDataset, trainer: Trainer, config: RunConfig, loaderThreads: Int) {
        self.train = train
        self.validation = validation
        self.trainer = trainer
        self.config = config
        self.loaderThreads = loaderThreads
        firstStep = trainer.step
        plan = StepPlan(samples: train.count, batchSize: config.training.batchSize, microBatch: config.microBatch,
                        seed: config.training.seed)
        validationBatches = renderValidation()
    }

    private var size: Int { config.model.backbone.inputSize }
    private var renderer: SampleRenderer { SampleRenderer(size: size, resize: config.resize, description: config.description) }
    var totalSteps: Int { config.training.epochs * plan.stepsPerEpoch }

    /// Trains in this process: micro-batches in sequence, decoded and augmented ahead of time by
    /// background threads, reduced exactly as the coordinator reduces workers' results.
    /// `save` writes a checkpoint and returns its path; `afterEach` runs after every step.
    func runLocal(stopAfterStep: Int?, checkpoints: CheckpointPolicy?, save: (CheckpointPolicy) throws -> String,
                  afterEach: () throws -> Void) throws {
        let loader = BatchLoader(source: train.sampleSource, renderer: renderer, augmentation: config.augmentation,
                                 seed: config.training.seed, threads: loaderThreads)
        let store = trainer.network.store
        let last = min(totalSteps, stopAfterStep ?? totalSteps)
        var loadedEpoch = -1
        while trainer.step < last {
            let step = trainer.step
            let started = Date()
            let (epoch, batches) = plan.microBatches(step: step)
            if epoch != loadedEpoch {
                // The loader works through the whole epoch's micro-batches, from this step on.
                let first = step - epoch * plan.stepsPerEpoch
                let all = (first..<plan.stepsPerEpoch).flatMap { plan.microBatches(step: epoch * plan.stepsPerEpoch + $0).batches }
                loader.start(epoch: epoch, batches: all)
                loadedEpoch = epoch
            }
            trainer.prepare(epoch: epoch)
            let runningStatistics = store.statistics.array
            var results: [MicroBatchResult] = []
            for index in batches.indices {
                guard let b = loader.next() else { throw ClusterError("the loader ended early at step \(step)") }
                for failure in b.failures { print("skipped sample: \(failure.description)") }
                guard b.count > 0 else {
                    results.append(.empty(index: index, parameterCount: store.gradients.count))
                    continue
                }
                let loss = try trainer.computeGradients(Self.batch(b), normalizer: 1,
                                                        dropoutSeed: StepPlan.dropoutSeed(seed: config.training.seed, step: step, microBatch: index))
                results.append(.capture(from: trainer, index: index, lossSum: loss, labelled: 2 * b.mask.reduce(0, +),
                                        samples: b.count))
            }
            // The forwards moved the running statistics; the reduction folds them in, in order.
            store.statistics.load(runningStatistics)
            let updateStarted = Date()
            guard let report = try badSteps.apply(results, to: trainer, epoch: epoch, log: { print($0) }) else { continue }
            let update = Date().timeIntervalSince(updateStarted)
            let timing = StepTiming(total: Date().timeIntervalSince(started), compute: Date().timeIntervalSince(started) - update,
                                    transfer: 0, update: update, samples: results.reduce(0) { $0 + $1.samples }, workers: 0)
            try afterStep(step: step, epoch: epoch, report: report, timing: timing, checkpoints: checkpoints, last: last,
                          save: save)
            try afterEach()
        }
    }

    /// Progress line every `logEvery` steps and a JSON line per step in the metrics log.
    var logEvery = 10
    var badSteps = BadStepGuard(limit: 5)
    var metricsLog: FileHandle?

    /// Progress, metrics, checkpoints and validation after a step (both paths).
    func afterStep(step: Int, epoch: Int, report: StepReport, timing: StepTiming, checkpoints: CheckpointPolicy?, last: Int,
                   save: (CheckpointPolicy) throws -> String) throws {
        epochLoss.sum += report.loss
        epochLoss.steps += 1
        epochLoss.images += timing.samples
        let rate = Double(timing.samples) / max(timing.total, 1e-9)
        writeMetrics(["step": step + 1, "epoch": epoch + 1, "loss": Double(report.loss),
                      "lr": Double(report.learningRate), "grad_norm": Double(report.gradientNorm),
                      "images_per_s": rate, "step_s": timing.total, "compute_s": timing.compute,
                      "transfer_s": timing.transfer, "update_s": timing.update, "workers": timing.workers])
        if logEvery > 0 && (step + 1) % logEvery == 0 {
            let elapsed = Date().timeIntervalSince(start), done = Double(step + 1 - firstStep)
            let eta = done > 0 ? elapsed / done * Double(last - step - 1) : 0
            print(String(format: "step %d/%d  epoch %d  loss %.5f  lr %.2e  %.1f img/s  %@ETA %@", step + 1, last, epoch + 1,
                         report.loss, report.learningRate, rate, timing.workers > 0 ? "workers \(timing.workers)  " : "",
                         Self.duration(eta)))
        }
        let endOfEpoch = trainer.step % plan.stepsPerEpoch == 0
        if let policy = checkpoints, policy.due(step: trainer.step, endOfEpoch: endOfEpoch || trainer.step == last) {
            print("checkpoint: \(try save(policy))")
            if !endOfEpoch { try writeCurves() }
        }
        if endOfEpoch { try endEpoch(epoch) }
    }

    /// Validation each epoch: printed, recorded for the learning curves, and the model with the
    /// lowest validation NME so far saved to `bestModel`.
    func endEpoch(_ epoch: Int) throws {
        let seconds = Date().timeIntervalSince(epochLoss.start)
        let (valLoss, metrics) = try trainer.evaluate(validationBatches)
        let trainLoss = epochLoss.sum / Float(max(epochLoss.steps, 1))
        print(String(format: "epoch %3d  train loss %.5f  val loss %.5f  %@  %.1f img/s%@", epoch + 1,
                     trainLoss, valLoss, metrics.summary,
                     Double(epochLoss.images) / seconds, trainer.network.backboneFrozen ? "  (backbone frozen)" : ""))
        epochLoss = (0, 0, 0, Date())
        history.append(EpochRecord(epoch: epoch + 1, trainLoss: Double(trainLoss), validationLoss: Double(valLoss),
                                   nme: metrics.nme, pck10: metrics.pck10))
        writeMetrics(["epoch_end": epoch + 1, "step": trainer.step, "train_loss": Double(trainLoss), "val_loss": Double(valLoss),
                      "val_rmse_px": metrics.rmse, "val_nme": metrics.nme, "val_pck05": metrics.pck05, "val_pck10": metrics.pck10])
        if let bestModel, metrics.nme < bestNME {
            bestNME = metrics.nme
            try SavedModel.save(trainer.network, to: bestModel, training: [
                "epoch": "\(epoch + 1)", "steps": "\(trainer.step)", "val_nme": "\(metrics.nme)", "resize": config.resize.rawValue,
            ])
            print("best so far (validation NME \(String(format: "%.4f", metrics.nme))): saved to \(bestModel.path)")
        }
        try writeCurves()
    }

    /// Epoch records so far (for the learning curves).
    private(set) var history: [EpochRecord] = []
    /// Where the best model by validation NME goes (nil: not kept).
    var bestModel: URL?
    private var bestNME = Double.infinity
    /// Where the learning-curve SVG goes (nil: not drawn).
    var curvesFile: URL?

    /// Appends one JSON line to the metrics log (if there is one).
    private func writeMetrics(_ fields: [String: Any]) {
        guard let metricsLog, let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        metricsLog.write(data + Foundation.Data("\n".utf8))
    }

    func writeCurves() throws {
        guard let curvesFile, !history.isEmpty else { return }
        let title = "MobileNetV1 alpha \(config.model.backbone.alpha), \(size) px, batch \(config.training.batchSize), "
            + "step \(trainer.step) of \(totalSteps)"
        try LearningCurves.svg(history, title: title).write(to: curvesFile, atomically: true, encoding: .utf8)
    }

    /// The final validation report; returns loss and metrics.
    func finish() throws -> (loss: Float, metrics: KeypointMetrics) {
        let (loss, metrics) = try trainer.evaluate(validationBatches)
        print("final validation: loss \(loss), \(metrics.summary) (pixels of the \(size)x\(size) network input)")
        print("mean-shape baseline (predict the average training keypoints): \(meanShapeBaseline().summary)")
        print(String(format: "trained %d steps in %.1f s", trainer.step, Date().timeIntervalSince(start)))
        return (loss, metrics)
    }

    /// Validation samples rendered once, without augmentation.
    private func renderValidation() -> [KeypointBatch] {
        let loader = BatchLoader(source: validation.sampleSource, renderer: renderer, augmentation: .none, seed: 0,
                                 threads: loaderThreads)
        let batchSize = config.training.batchSize
        return stride(from: 0, to: validation.count, by: batchSize).compactMap { start in
            let b = loader.load(epoch: 0, indices: Array(start..<min(start + batchSize, validation.count)))
            for failure in b.failures { print("skipped validation sample: \(failure.description)") }
            return b.count > 0 ? Self.batch(b) : nil
        }
    }

    /// Metrics of always predicting the mean training keypoints (in the network frame).
    private func meanShapeBaseline() -> KeypointMetrics {
        let k2 = 2 * config.description.keypointCount
        var sum = [Double](repeating: 0, count: k2), count = [Double](repeating: 0, count: k2)
        for (i, record) in train.labels.records.enumerated() {
            guard let size = try? ImageCodec.imageSize(train.images[i], path: record.imagePath) else { continue }
            let mapping = FrameMapping(width: size.width, height: size.height, size: self.size, mode: config.resize)
            for k in 0..<(k2 / 2) where record.visibility[k] > 0 {
                let p = mapping.toNetwork(Double(record.keypoints[2 * k]), Double(record.keypoints[2 * k + 1]))
                sum[2 * k] += p.x / Double(self.size); sum[2 * k + 1] += p.y / Double(self.size)
                count[2 * k] += 1; count[2 * k + 1] += 1
            }
        }
        let mean = (0..<k2).map { Float(sum[$0] / max(count[$0], 1)) }
        let targets = validationBatches.flatMap(\.targets), mask = validationBatches.flatMap(\.mask)
        let predictions = (0..<(targets.count / k2)).flatMap { _ in mean }
        return KeypointMetrics(predictions: predictions, targets: targets, mask: mask, size: size)
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : (s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s")
    }

    static func batch(_ b: LoadedBatch) -> KeypointBatch {
        KeypointBatch(images: b.images, targets: b.targets, mask: b.mask, count: b.count)
    }
}
