// The machine-readable log of a run: one JSON line per step and one per epoch end, appended to
// RUN/metrics.jsonl. On resume, the lines of steps after the checkpoint (which will run again) are
// dropped first, so the log never holds a step twice.
import Foundation

public final class MetricsLog: TrainingObserver {
    public let url: URL
    private let handle: FileHandle

    /// Opens (creating) the log; with `resumedAt`, first keeps only the lines of steps up to it.
    public init(url: URL, resumedAt step: Int? = nil) throws {
        self.url = url
        let fm = FileManager.default
        if let step, let text = try? String(contentsOf: url, encoding: .utf8) {
            let kept = text.split(separator: "\n").filter { line in
                guard let object = try? JSONSerialization.jsonObject(with: Foundation.Data(line.utf8)) as? [String: Any],
                      let s = object["step"] as? Int else { return false }
                return s <= step
            }
            try (kept.map { $0 + "\n" }.joined()).write(to: url, atomically: true, encoding: .utf8)
        } else if !fm.fileExists(atPath: url.path) {
            guard fm.createFile(atPath: url.path, contents: nil) else {
                throw TrainingError("cannot create the metrics log \(url.path); check the folder's permissions")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: url.path) else {
            throw TrainingError("cannot write the metrics log \(url.path); check its permissions")
        }
        self.handle = handle
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

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

    /// Appends one JSON line; a full disk is an error naming the file, never a trap.
    private func write(_ fields: [String: Any]) throws {
        let finite = fields.mapValues { v -> Any in (v as? Double).map { $0.isFinite ? $0 : "\($0)" as Any } ?? v }
        let data = try JSONSerialization.data(withJSONObject: finite, options: [.sortedKeys])
        do { try handle.write(contentsOf: data + Foundation.Data("\n".utf8)) } catch {
            throw TrainingError("cannot append to the metrics log \(url.path): \(error); free some space and resume the run")
        }
    }
}
