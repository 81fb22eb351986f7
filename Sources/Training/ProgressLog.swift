// The progress a person watches: a line every few steps (loss, rate, ETA), or on a terminal a bar
// redrawn in place, and one line per epoch with the validation metrics.
import Foundation

public final class ProgressLog: TrainingObserver {
    private let every: Int
    private let last: Int
    private let firstStep: Int
    private let print: (String) -> Void
    private let bar: ((_ line: String, _ final: Bool) -> Void)?
    private let detail: ((String) -> Void)?
    private let start = Date()

    /// - Parameters:
    ///   - every: a step line every this many steps (0: epoch lines only); not with `bar`.
    ///   - firstStep, last: the run's first step (after a resume) and its last, for the ETA.
    ///   - bar: on a terminal, redraws a one-line progress bar after every step (`final` at an
    ///     epoch's last step and the run's), in place of the step lines.
    ///   - detail: hears a line per step with the time split (`--verbose`).
    public init(every: Int, firstStep: Int, last: Int, print: @escaping (String) -> Void,
                bar: ((_ line: String, _ final: Bool) -> Void)? = nil, detail: ((String) -> Void)? = nil) {
        self.every = every; self.firstStep = firstStep; self.last = last; self.print = print
        self.bar = bar; self.detail = detail
    }

    public func stepEnded(_ record: StepRecord, engine: TrainingEngine) throws {
        let t = record.timing
        if let detail, let report = record.report {
            detail(String(format: "step %d  loss %.6f  grad norm %.4g  lr %.3e  %.3f s = compute %.3f + transfer %.3f + update %.3f  %d image(s)",
                          record.stepsDone, report.loss, report.gradientNorm, report.learningRate, t.total, t.compute, t.transfer,
                          t.update, t.samples))
        }
        let elapsed = Date().timeIntervalSince(start), done = Double(record.stepsDone - firstStep)
        let eta = done > 0 ? elapsed / done * Double(last - record.stepsDone) : 0
        let rate = Double(t.samples) / max(t.total, 1e-9)
        if let bar {
            let fraction = Double(record.stepsDone) / Double(max(last, 1)), width = 24
            let filled = min(width, Int(fraction * Double(width)))
            let loss = record.report.map { String(format: "loss %.5f", $0.loss) } ?? "step skipped"
            bar(String(format: "step %d/%d [%@%@] %3.0f%%  epoch %d  %@  %.1f img/s  ETA %@", record.stepsDone, last,
                       String(repeating: "#", count: filled), String(repeating: "-", count: width - filled), 100 * fraction,
                       record.epoch + 1, loss, rate, Self.duration(eta)),
                record.endsEpoch || record.stepsDone == last)
            return
        }
        guard every > 0, record.stepsDone % every == 0, let report = record.report else { return }
        print(String(format: "step %d/%d  epoch %d  loss %.5f  lr %.2e  %.1f img/s  %@ETA %@", record.stepsDone, last,
                     record.epoch + 1, report.loss, report.learningRate, rate,
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
