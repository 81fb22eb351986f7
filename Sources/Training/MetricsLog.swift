// The machine-readable log of a run: one JSON line per step and one per epoch end, appended to
// RUN/metrics.jsonl. On resume, the lines of steps after the checkpoint (which will run again) are
// dropped first, so the log never holds a step twice.
import Foundation
import Model
import ModelFiles

public final class MetricsLog: TrainingObserver {
    public let url: URL
    private let file: AppendingFile

    /// Opens (creating) the log; with `resumedAt`, first keeps only the lines of steps up to it
    /// (a torn last line, from a crash mid-write, is dropped too).
    public init(url: URL, resumedAt step: Int? = nil) throws {
        self.url = url
        if let step, let text = try? String(contentsOf: url, encoding: .utf8) {
            let kept = text.split(separator: "\n").filter { line in
                guard let object = try? JSONSerialization.jsonObject(with: Foundation.Data(line.utf8)) as? [String: Any],
                      let s = object["step"] as? Int else { return false }
                return s <= step
            }
            do { try DurableFile.write(Foundation.Data(kept.map { $0 + "\n" }.joined().utf8), to: url) } catch {
                throw TrainingError("\(error); free some space and resume the run")
            }
        }
        do { file = try AppendingFile(url) } catch {
            throw TrainingError("cannot write the metrics log: \(error); check the run folder's permissions")
        }
    }

    /// `step` is the number of steps done after the step (1-based), as in every line.
    public func stepEnded(_ r: StepRecord, engine: TrainingEngine) throws {
        guard let report = r.report else { return }
        let t = r.timing
        try write(["step": r.stepsDone, "epoch": r.epoch + 1, "loss": Double(report.loss), "lr": Double(report.learningRate),
                   "grad_norm": Double(report.gradientNorm), "images_per_s": Double(t.samples) / max(t.total, 1e-9),
                   "step_s": t.total, "compute_s": t.compute, "transfer_s": t.transfer, "update_s": t.update,
                   "workers": t.workers])
    }

    public func epochEnded(_ s: EpochSummary, engine: TrainingEngine) throws {
        try write(["epoch_end": s.epoch, "step": s.step, "train_loss": s.trainLoss, "val_loss": s.validationLoss,
                   "val_rmse_px": s.metrics.rmse, "val_nme": s.metrics.nme, "val_pck05": s.metrics.pck05,
                   "val_pck10": s.metrics.pck10, "val_nme_mean_shape": s.meanShapeNME, "normalizer": s.metrics.normalizer,
                   "best": s.isBest])
    }

    /// Appends one JSON line; a full disk is an error naming the file (the line is not half
    /// written), never a trap.
    private func write(_ fields: [String: Any]) throws {
        let finite = fields.mapValues { v -> Any in (v as? Double).map { $0.isFinite ? $0 : "\($0)" as Any } ?? v }
        let data = try JSONSerialization.data(withJSONObject: finite, options: [.sortedKeys])
        do { try file.append(data + Foundation.Data("\n".utf8)) } catch {
            throw TrainingError("the metrics log: \(error); free some space and resume the run")
        }
    }
}
