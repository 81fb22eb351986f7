// The run's TensorBoard log (RUN/events.out.tfevents.*): training scalars every few steps, the
// validation metrics of every epoch and a picture of a few validation images with predicted and
// true keypoints. `tensorboard --logdir runs` shows every run in a folder of runs.
import Data
import Foundation

public final class TensorBoardLog: TrainingObserver {
    public let file: EventFile
    private let every: Int
    private let images: Int

    /// - Parameters:
    ///   - folder: the run folder; a new event file is made in it (one per start of the run).
    ///   - every: training scalars every this many steps (0: epoch scalars only).
    ///   - images: validation images drawn per epoch (0: none).
    ///   - resumedAt: the step the run continues from, if it does: TensorBoard is told to drop what
    ///     earlier files hold from the step after it on (those steps run again).
    public init(folder: URL, every: Int, images: Int = 4, resumedAt: Int? = nil) throws {
        file = try EventFile(folder: folder)
        self.every = every
        self.images = images
        if let resumedAt { try file.write(TensorBoardEvent.sessionStart(step: resumedAt + 1, wallTime: Date())) }
    }

    /// Step scalars, at the number of steps done (1-based, as in metrics.jsonl).
    public func stepEnded(_ r: StepRecord, engine: TrainingEngine) throws {
        guard every > 0, r.stepsDone % every == 0, let report = r.report else { return }
        let t = r.timing
        var values: [(tag: String, value: Float)] = [
            ("train/loss", report.loss), ("train/learning_rate", report.learningRate), ("train/gradient_norm", report.gradientNorm),
            ("train/images_per_second", Float(Double(t.samples) / max(t.total, 1e-9))),
            ("time/step_seconds", Float(t.total)), ("time/compute_seconds", Float(t.compute)),
            ("time/transfer_seconds", Float(t.transfer)), ("time/update_seconds", Float(t.update)),
        ]
        if t.workers > 0 { values.append(("cluster/workers", Float(t.workers))) }
        try file.write(TensorBoardEvent.scalars(values, step: r.stepsDone, wallTime: Date()))
    }

    /// The epoch's validation metrics (pixels of the network input) and, with `images`, the first
    /// validation images with the model's predictions (discs) and the labels (rings).
    public func epochEnded(_ s: EpochSummary, engine: TrainingEngine) throws {
        let now = Date()
        try file.write(TensorBoardEvent.scalars([
            ("val/loss", Float(s.validationLoss)), ("val/nme", Float(s.metrics.nme)), ("val/rmse_px", Float(s.metrics.rmse)),
            ("val/pck@0.05", Float(s.metrics.pck05)), ("val/pck@0.1", Float(s.metrics.pck10)),
            ("val/nme_mean_shape", Float(s.meanShapeNME)), ("val/nme_over_mean_shape", Float(s.metrics.nme / max(s.meanShapeNME, 1e-12))),
            ("train/epoch_loss", Float(s.trainLoss)), ("train/epoch_images_per_second", Float(s.imagesPerSecond)),
            ("epoch", Float(s.epoch)),
        ], step: s.step, wallTime: now))
        guard images > 0, let validation = engine.validation else { return }
        let drawn = try validation.overlays(engine.trainer.network, count: images)
        guard !drawn.isEmpty else { return }
        let sheet = RGBImage.grid(drawn, columns: drawn.count)
        let png = try ImageCodec.encodePNG(sheet)
        try file.write(TensorBoardEvent.image(tag: "val/predictions", png: Array(png), width: sheet.width, height: sheet.height,
                                              step: s.step, wallTime: now))
    }
}
