// The learning curves of a run, RUN/curves.svg, redrawn from the whole history at every epoch end
// (a resumed run's curves go on from its first epoch), replaced atomically.
import Foundation
import Model
import ModelFiles

public final class CurvesFile: TrainingObserver {
    public let url: URL

    public init(url: URL) { self.url = url }

    public func epochEnded(_ summary: EpochSummary, engine: TrainingEngine) throws {
        let c = engine.config
        let title = "MobileNetV1 alpha \(c.model.backbone.alpha), \(c.model.backbone.inputSize) px, batch \(c.training.batchSize), "
            + "step \(engine.trainer.step) of \(engine.totalSteps)"
        do { try DurableFile.write(Foundation.Data(LearningCurves.svg(engine.history.epochs, title: title).utf8), to: url) } catch {
            throw TrainingError("the learning curves: \(error)")
        }
    }
}
