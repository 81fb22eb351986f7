// Early stopping and --val-every in the real engine (tiny MobileNet, real validation): the run ends
// at the first epoch boundary `patience` epochs after the best, stays ended when resumed with the
// same patience and goes on with a larger one; validation runs every N epochs and after the last.
import Foundation
import Model
import TestSupport
import Training
import XCTest

final class EarlyStoppingTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    private func summary(_ epoch: Int, nme: Double, best: Bool) -> EpochSummary {
        EpochSummary(epoch: epoch, step: epoch, trainLoss: 1, validationLoss: 1,
                     metrics: KeypointMetrics(predictions: [0.5, 0.5], targets: [0.5, 0.5], mask: [1], size: 96, keypoints: 1,
                                              normalizer: .diagonal),
                     meanShapeNME: 0.2, imagesPerSecond: 1, isBest: best).with(nme: nme)
    }

    func testReasonCountsEpochsSinceTheBest() {
        var history = RunHistory()
        let stopping = EarlyStopping(patience: 2)
        XCTAssertNil(stopping.reason(history), "no epoch yet")
        history.epochs = [summary(1, nme: 0.3, best: true), summary(2, nme: 0.2, best: true), summary(3, nme: 0.25, best: false)]
        XCTAssertNil(stopping.reason(history), "one epoch since the best (epoch 2)")
        history.epochs.append(summary(4, nme: 0.21, best: false))
        let reason = try? XCTUnwrap(stopping.reason(history))
        XCTAssertTrue(reason?.contains("2 epochs since epoch 2") == true && reason?.contains("NME 0.2000") == true, String(describing: reason))
        XCTAssertNil(EarlyStopping(patience: 3).reason(history))
        XCTAssertNil(EarlyStopping(patience: 2, after: 3).reason(history), "the frozen epochs 1-3 are not watched: one epoch since")
        history.epochs.append(summary(5, nme: 0.22, best: false))
        XCTAssertNotNil(EarlyStopping(patience: 2, after: 3).reason(history))
    }

    /// A history whose epoch 1 scored an NME no model can beat (0): with patience 1 the run ends
    /// after epoch 2 of 5, at its boundary, on real validation.
    func testEngineStopsAtTheEpochBoundaryAndStaysStoppedOnResume() throws {
        let cards = try cardsDataset(count: 8)
        let config = tinyRunConfig(epochs: 5, batchSize: 4, microBatch: 4, lr: 1e-3)
        let stepsPerEpoch = StepPlan(samples: 6, config: config).totalSteps(epochs: 1)
        var history = RunHistory()
        history.epochs = [summary(1, nme: 0, best: true)]
        let trainer = try freshTrainer(config)
        trainer.step = stepsPerEpoch
        let train = cards.subset(Array(0..<6)), validation = cards.subset([6, 7])
        let engine = try localEngine(config, train: train, validation: validation, trainer: trainer, history: history)
        engine.earlyStopping = EarlyStopping(patience: 1)
        let ends = LossRecorder()
        engine.observers = [ends]
        let end = try engine.run()
        guard case .earlyStopped(let reason) = end else { return XCTFail("ended \(end)") }
        XCTAssertTrue(reason.contains("since epoch 1"), reason)
        XCTAssertEqual(ends.end, end, "observers hear the early stop")
        XCTAssertEqual(trainer.step, 2 * stepsPerEpoch, "epoch 2 ran, then the run ended at its boundary")
        XCTAssertEqual(engine.history.epochs.map(\.epoch), [1, 2])

        // Resumed with the same patience: nothing runs. With a larger one: to the end.
        let again = try localEngine(config, train: train, validation: validation, trainer: trainer, history: engine.history)
        again.earlyStopping = EarlyStopping(patience: 1)
        guard case .earlyStopped = try again.run() else { return XCTFail("a stopped run started again") }
        XCTAssertEqual(trainer.step, 2 * stepsPerEpoch)
        let patient = try localEngine(config, train: train, validation: validation, trainer: trainer, history: engine.history)
        patient.earlyStopping = EarlyStopping(patience: 10)
        XCTAssertEqual(try patient.run(), .finished)
        XCTAssertEqual(trainer.step, 5 * stepsPerEpoch)
    }

    func testValidateEveryNEpochsAndAfterTheLast() throws {
        let cards = try cardsDataset(count: 6)
        let config = tinyRunConfig(epochs: 5, batchSize: 4, microBatch: 4, lr: 1e-3)
        let engine = try localEngine(config, train: cards.subset(Array(0..<4)), validation: cards.subset([4, 5]))
        engine.validateEvery = 2
        XCTAssertEqual(try engine.run(), .finished)
        XCTAssertEqual(engine.history.epochs.map(\.epoch), [2, 4, 5], "validated epochs: every 2nd and the last")
    }
}

private extension EpochSummary {
    func with(nme: Double) -> EpochSummary {
        var s = self
        s.metrics.nme = nme
        return s
    }
}
