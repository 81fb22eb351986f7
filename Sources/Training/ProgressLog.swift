// The progress a person watches: a line every few steps (loss, rate, ETA) and one per epoch with
// the validation metrics.
import Foundation

public final class ProgressLog: TrainingObserver {
    private let every: Int
    private let last: Int
    private let firstStep: Int
    private let print: (String) -> Void
    private let start = Date()

    /// - Parameters:
    ///   - every: a step line every this many steps (0: epoch lines only).
    ///   - firstStep, last: the run's first step (after a resume) and its last, for the ETA.
    public init(every: Int, firstStep: Int, last: Int, print: @escaping (String) -> Void) {
        self.every = every; self.firstStep = firstStep; self.last = last; self.print = print
    }

    public func stepEnded(_ record: StepRecord, engine: TrainingEngine) throws {
        guard every > 0, record.stepsDone % every == 0, let report = record.report else { return }
        let t = record.timing
        let elapsed = Date().timeIntervalSince(start), done = Double(record.stepsDone - firstStep)
        let eta = done > 0 ? elapsed / done * Double(last - record.stepsDone) : 0
        print(String(format: "step %d/%d  epoch %d  loss %.5f  lr %.2e  %.1f img/s  %@ETA %@", record.stepsDone, last,
                     record.epoch + 1, report.loss, report.learningRate, Double(t.samples) / max(t.total, 1e-9),
                     t.workers > 0 ? "workers \(t.workers)  " : "", Self.duration(eta)))
    }

    public func epochEnded(_ s: EpochSummary, engine: TrainingEngine) throws {
        print(String(format: "epoch %3d  train loss %.5f  val loss %.5f  %@  mean shape NME %.4f (model %.2fx)  %.1f img/s%@",
                     s.epoch, s.trainLoss, s.validationLoss, s.metrics.summary, s.meanShapeNME, s.metrics.nme / max(s.meanShapeNME, 1e-12),
                     s.imagesPerSecond, engine.trainer.network.backboneFrozen ? "  (backbone frozen)" : ""))
    }

    /// `42s`, `3m05s`, `2h10m`.
    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : (s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s")
    }
}
