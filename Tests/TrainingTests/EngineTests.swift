// The training engine on real (generated, PNG-encoded) images and real oneDNN kernels, in this
// process: a tiny model memorises a few images and beats the mean shape by far; frozen-backbone
// epochs train the head only; non-finite steps change nothing and stop training after the limit;
// a run stopped and resumed from its checkpoint (history included) ends as one that never stopped.
import Compute
import Data
import Foundation
import Model
import TestSupport
import Training
import XCTest

final class EngineTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// alpha 0.25, 96 px, hidden 64, Adam 1e-3 on one batch of 8 cards (one step per epoch): the
    /// training loss falls from ~0.07 to below 1e-5 within 150 steps.
    func testTinyModelMemorisesEightImages() throws {
        let cards = try cardsDataset(count: 8)
        let config = tinyRunConfig(epochs: 150, batchSize: 8, microBatch: 8, lr: 1e-3, seed: 1, hidden: 64)
        let engine = try localEngine(config, train: cards)
        let losses = LossRecorder()
        engine.observers = [losses]
        XCTAssertEqual(try engine.run(), .finished)
        let l = losses.values
        print("memorise 8 cards: training loss at steps 0/20/50/149: \(l[0]) \(l[20]) \(l[50]) \(l[149])")
        XCTAssertGreaterThan(l[0], 1e-2, "the untrained loss should be far from 0")
        XCTAssertLessThan(l.suffix(10).reduce(0, +) / 10, 1e-5, "training loss did not reach ~0: \(l.suffix(10))")

        // NOTE: the running BN statistics average 150 steps of drifting batch statistics; set them to
        // this batch's own (one fold at momentum 0, the rule's first update), then inference must
        // reproduce the memorised corners: far below the mean shape.
        let network = engine.trainer.network
        let validation = Validation(validation: cards, training: cards, config: config, threads: 1, log: { _ in })
        let batch = BatchLoader(source: cards.sampleSource, renderer: config.renderer, augmentation: .none, seed: 0, threads: 1)
            .load(epoch: 0, indices: Array(0..<8))
        _ = try MicroBatchComputer(config: config, network: network).compute(batch, step: 0, epoch: 0, index: 0)
        BatchNormStatistics.fold(try XCTUnwrap(network.batchStatistics()), into: network.store, momentum: 0)
        let (loss, metrics) = try validation.evaluate(network)
        let baseline = validation.meanShape
        print("memorise 8 cards: inference MSE \(loss), \(metrics.summary); mean shape \(baseline.summary)")
        XCTAssertLessThan(metrics.meanError, baseline.meanError / 10, "inference error \(metrics.meanError) px vs mean shape \(baseline.meanError) px")
        XCTAssertEqual(metrics.pck05, 1, "every corner within 5% of the diagonal")
    }

    func testFrozenBackboneEpochTrainsHeadOnlyAndKeepsItsStatistics() throws {
        let cards = try cardsDataset(count: 4)
        var config = tinyRunConfig(epochs: 2, batchSize: 2, microBatch: 2, lr: 1e-2, hidden: 16, freezeBackboneEpochs: 1)
        config.training.fineTuneFactor = 0.1
        let engine = try localEngine(config, train: cards)
        let store = engine.trainer.network.store
        func values(_ prefix: String) -> [String: [Float]] {
            Dictionary(uniqueKeysWithValues: store.layout.parameters.filter { $0.name.hasPrefix(prefix) }
                .map { ($0.name, store.values($0.name)!) })
        }
        let backbone0 = values("backbone."), head0 = values("head."), statistics0 = store.statistics.array
        let index = Dictionary(uniqueKeysWithValues: store.layout.parameters.enumerated().map { ($1.name, $0) })
        let rates = LossRecorder()
        engine.observers = [rates]

        try engine.run(until: 2)   // epoch 0: only the head moves; BN infers, its running statistics stay put
        XCTAssertEqual(rates.rates, [1e-2, 1e-2])
        XCTAssertEqual(values("backbone."), backbone0, "backbone weights moved while frozen")
        XCTAssertEqual(store.statistics.array, statistics0, "BN statistics moved while frozen")
        for (name, old) in head0 {
            XCTAssertNotEqual(store.values(name), old, "\(name) did not train")
            XCTAssertEqual(engine.trainer.optimizer.steps[index[name]!], 2, name)
        }
        for name in backbone0.keys { XCTAssertEqual(engine.trainer.optimizer.steps[index[name]!], 0, name) }

        try engine.run(until: 3)   // epoch 1: everything trains at lr * fine-tune factor, BN statistics move
        XCTAssertEqual(rates.rates.last!, 1e-3, accuracy: 1e-9)
        for (name, old) in backbone0 {
            XCTAssertNotEqual(store.values(name), old, "\(name) did not train after unfreezing")
            XCTAssertEqual(engine.trainer.optimizer.steps[index[name]!], 1, name)
        }
        for spec in store.layout.statistics {
            XCTAssertNotEqual(store.values(spec.name), Array(statistics0[spec.range]), "\(spec.name) did not update")
        }
    }

    /// A source whose every micro-batch has a NaN loss: each step is skipped (weights, optimizer and
    /// BN statistics unchanged, the step counted); at the limit the run gives up, telling observers.
    func testNonFiniteStepsChangeNothingAndStopAtTheLimit() throws {
        let cards = try cardsDataset(count: 4)
        let config = tinyRunConfig(epochs: 3, batchSize: 2, microBatch: 1)
        let trainer = try freshTrainer(config)
        let plan = StepPlan(samples: cards.count, config: config)
        let engine = TrainingEngine(config: config, trainer: trainer, plan: plan, source: PoisonedSource(trainer.network.store),
                                    validation: nil, maxBadSteps: 3, log: { _ in })
        let ends = LossRecorder()
        engine.observers = [ends]
        let parameters = trainer.network.store.parameters.array, statistics = trainer.network.store.statistics.array
        XCTAssertThrowsError(try engine.run()) { error in
            XCTAssertTrue(error is BadStepGuard.TooManyBadSteps, "\(error)")
            XCTAssertTrue("\(error)".contains("3 steps in a row had NaN or infinite loss"), "\(error)")
        }
        XCTAssertEqual(trainer.step, 3, "skipped steps are counted")
        XCTAssertEqual(trainer.network.store.parameters.array, parameters)
        XCTAssertEqual(trainer.network.store.statistics.array, statistics)
        XCTAssertEqual(trainer.optimizer.steps.max(), 0)
        XCTAssertEqual(ends.skipped, 3)
        guard case .gaveUp = try XCTUnwrap(ends.end) else { return XCTFail("observers heard \(String(describing: ends.end))") }
    }

    /// Train 2 epochs straight; train 3 steps, checkpoint, and resume a new engine from the
    /// checkpoint: the same weights, the same epoch history and best score, bit for bit.
    func testResumedRunEndsWithTheWeightsAndHistoryOfAnUninterruptedOne() throws {
        let all = try cardsDataset(count: 14)
        let train = all.subset(Array(0..<10)), validation = all.subset(Array(10..<14))
        let config = tinyRunConfig(epochs: 2, batchSize: 4, microBatch: 3)
        let straight = try localEngine(config, train: train, validation: validation)
        try straight.run()

        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try localEngine(config, train: train, validation: validation)
        let policy = CheckpointPolicy(directory: folder, every: 0, keep: 2, fingerprint: "cards")
        first.observers = [Checkpointer(policy: policy, log: { _ in })]
        try first.run(until: 4)   // 3 steps per epoch: one epoch and one step
        let contents = try XCTUnwrap(Checkpoint.newestValid(in: folder, log: { _ in }))
        XCTAssertEqual(contents.step, 4)
        XCTAssertEqual(contents.history.epochs.count, 1)
        let trainer = try freshTrainer(config)
        try Checkpoint.restore(contents, into: trainer, config: config, fingerprint: "cards")
        let resumed = try localEngine(config, train: train, validation: validation, trainer: trainer, history: contents.history)
        try resumed.run()
        XCTAssertEqual(resumed.trainer.network.store.parameters.array, straight.trainer.network.store.parameters.array)
        XCTAssertEqual(resumed.trainer.network.store.statistics.array, straight.trainer.network.store.statistics.array)
        func facts(_ h: RunHistory) -> [[Double]] {
            h.epochs.map { [Double($0.epoch), Double($0.step), $0.trainLoss, $0.validationLoss, $0.metrics.nme, $0.isBest ? 1 : 0] }
        }
        XCTAssertEqual(facts(resumed.history), facts(straight.history), "the resumed history differs")
        XCTAssertEqual(resumed.history.bestEpoch, straight.history.bestEpoch)
        XCTAssertEqual(resumed.history.bestNME, straight.history.bestNME)
    }
}

/// Records what observers hear: losses and learning rates of applied steps, skipped steps, the end.
final class LossRecorder: TrainingObserver {
    var values: [Float] = [], rates: [Float] = [], skipped = 0
    var end: RunEnd?
    func stepEnded(_ record: StepRecord, engine: TrainingEngine) throws {
        guard let r = record.report else { skipped += 1; return }
        values.append(r.loss)
        rates.append(r.learningRate)
    }
    func runEnded(_ end: RunEnd, engine: TrainingEngine) throws { self.end = end }
}

/// Every micro-batch comes back with a NaN loss sum and gradients.
final class PoisonedSource: GradientSource {
    let store: Model.ParameterStore
    init(_ store: Model.ParameterStore) { self.store = store }
    func gradients(for work: StepWork, shouldStop: () -> Bool) throws -> SourcedGradients {
        SourcedGradients(results: work.microBatches.indices.map {
            MicroBatchResult(index: $0, lossSum: .nan, labelled: 8, samples: 1,
                             gradients: [Float](repeating: .nan, count: store.layout.parameterCount),
                             batchStatistics: [Float](repeating: 1, count: store.layout.statisticCount), failures: [])
        })
    }
}

func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("keypoints-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The not-learning warning: said once, after the waiting epochs, only while the model is no
/// better than the mean shape, with what to try.
final class LearningCheckTests: XCTestCase {
    private func summary(epoch: Int, nme: Double, meanShape: Double) -> EpochSummary {
        var metrics = KeypointMetrics(predictions: [0.5, 0.5], targets: [0.5, 0.5], mask: [1], size: 96, keypoints: 1)
        metrics.nme = nme
        return EpochSummary(epoch: epoch, step: epoch, trainLoss: 0.01, validationLoss: 0.01, metrics: metrics,
                            meanShapeNME: meanShape, imagesPerSecond: 1, isBest: false)
    }

    func testWarnsOnceWhenNoBetterThanTheMeanShapeAfterTheWaitingEpochs() throws {
        useOneComputeThread()
        let cards = try cardsDataset(count: 2)
        let engine = try localEngine(tinyRunConfig(epochs: 30, batchSize: 2, microBatch: 2), train: cards)
        var lines: [String] = []
        let check = LearningCheck(epochs: 15, log: { lines.append($0) })
        try check.epochEnded(summary(epoch: 2, nme: 0.5, meanShape: 0.4), engine: engine)
        XCTAssertEqual(lines, [], "too early to judge")
        try check.epochEnded(summary(epoch: 3, nme: 0.3, meanShape: 0.4), engine: engine)
        XCTAssertEqual(lines, [], "0.75x the mean shape is learning")
        try check.epochEnded(summary(epoch: 4, nme: 0.39, meanShape: 0.4), engine: engine)
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].contains("no better than the mean shape's 0.4000 (0.97x)") && lines[0].contains("--lr"), lines[0])
        try check.epochEnded(summary(epoch: 5, nme: 0.5, meanShape: 0.4), engine: engine)
        XCTAssertEqual(lines.count, 1, "said once")
        XCTAssertEqual(LearningCheck(epochs: 2, log: { _ in }).after, 1, "a 2-epoch run is judged after its first")
        XCTAssertEqual(LearningCheck(epochs: 30, log: { _ in }).after, 6, "a 30-epoch run after a fifth of it")
    }
}
