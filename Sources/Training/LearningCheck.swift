// The warning a person needs most: after a few epochs, a model whose validation NME is no better
// than always predicting the mean shape has not learned where the keypoints are, however healthy
// its loss looks. Said once, with the likely causes and what to try.
import Foundation

public final class LearningCheck: TrainingObserver {
    /// Epochs to wait before judging (the first ones may well be worse than the mean shape).
    public let after: Int
    /// The model counts as not learning while its NME is above `ratio` x the mean shape's.
    public let ratio: Double
    private let log: (String) -> Void
    private var warned = false

    /// - Parameter after: epochs to wait; default a fifth of the run but at least 3 (the warm-up and
    ///   the first, fast epochs are often worse than the mean shape), at most half a short run.
    ///   Measured: on the re-framed LFW faces the demo recipe was 1.4x the mean shape at epoch 3 of
    ///   30 and 0.8x at epoch 6.
    public init(epochs: Int, after: Int? = nil, ratio: Double = 0.9, log: @escaping (String) -> Void) {
        self.after = max(1, min(after ?? max(3, epochs / 5), epochs / 2))
        self.ratio = ratio
        self.log = log
    }

    public func epochEnded(_ s: EpochSummary, engine: TrainingEngine) throws {
        guard !warned, s.epoch >= after, s.metrics.nme > ratio * s.meanShapeNME else { return }
        warned = true
        let lr = engine.trainer.learningRate(step: max(0, engine.trainer.step - 1), epoch: s.epoch - 1)
        log(String(format: "warning: after %d epoch(s) the validation NME %.4f is no better than the mean shape's %.4f (%.2fx): ",
                   s.epoch, s.metrics.nme, s.meanShapeNME, s.metrics.nme / max(s.meanShapeNME, 1e-12))
            + "the model has not learned where the keypoints are. Likely causes: a learning rate too high or too low "
            + String(format: "(now %.2e; try 3x up and down with --lr)", lr)
            + ", too few epochs or images, labels that do not sit on the features (look with `keypoints augment-preview`), "
            + "or an input too small for the features (--input-size). With few images, start from ImageNet weights "
            + "(import-weights, --init-from).")
    }
}
