// The best model so far: saved to RUN/best whenever an epoch's validation NME is the lowest of the
// run (the history decides, so a resumed run only replaces it with a better one).
import Foundation
import Model
import ModelFiles

public final class BestModel: TrainingObserver {
    public let folder: URL
    private let log: (String) -> Void

    public init(folder: URL, log: @escaping (String) -> Void) {
        self.folder = folder
        self.log = log
    }

    public func epochEnded(_ s: EpochSummary, engine: TrainingEngine) throws {
        guard s.isBest else { return }
        try SavedModel.save(engine.trainer.network, to: folder, training: [
            "epoch": "\(s.epoch)", "steps": "\(s.step)", "val_nme": "\(s.metrics.nme)", "val_loss": "\(s.validationLoss)",
            "resize": engine.config.resize.rawValue, "selected_by": "lowest validation NME (\(engine.config.normalizer))",
        ])
        log("best so far (validation NME \(String(format: "%.4f", s.metrics.nme))): saved to \(folder.path)")
    }
}
