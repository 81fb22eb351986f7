// BN running statistics by the one rule (Training/BatchNormStatistics.swift), through the engine:
// over a run's first updates they are the plain average of every micro-batch's statistics so far,
// then an exponential average with Keras' momentum 0.99; folds are numbered by the step, so a short
// last step renumbers nothing; imported statistics are folded into, not replaced; and a training
// forward never touches them.
import Data
import Foundation
import Model
import TestSupport
import Training
import XCTest

final class BatchNormStatisticsTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    func testMomentumAveragesPlainlyAtFirstThenExponentially() {
        XCTAssertEqual(BatchNormStatistics.momentum(update: 0), 0)
        XCTAssertEqual(BatchNormStatistics.momentum(update: 1), 0.5)
        XCTAssertEqual(BatchNormStatistics.momentum(update: 3), 0.75)
        XCTAssertEqual(BatchNormStatistics.momentum(update: 99), 0.99)
        XCTAssertEqual(BatchNormStatistics.momentum(update: 5000), 0.99)
    }

    /// Distinct statistics for micro-batch k: every value k + 1 plus a per-position pattern.
    private static func statistics(_ k: Int, count: Int) -> [Float] { (0..<count).map { Float(k + 1) + Float($0 % 7) * 0.25 } }

    /// Hands back each step's micro-batches in reverse order (as workers finish), with zero
    /// gradients and statistics `statistics(0)`, `statistics(1)`, ... counted in micro-batch order.
    private final class ScriptedStatistics: GradientSource {
        let store: Model.ParameterStore
        var next = 0
        init(_ store: Model.ParameterStore) { self.store = store }
        func gradients(for work: StepWork, shouldStop: () -> Bool) throws -> SourcedGradients {
            let first = next
            next += work.microBatches.count
            return SourcedGradients(results: work.microBatches.indices.reversed().map { j in
                MicroBatchResult(index: j, lossSum: 1, labelled: 8, samples: 1,
                                 gradients: [Float](repeating: 0, count: store.layout.parameterCount),
                                 batchStatistics: statistics(first + j, count: store.layout.statisticCount), failures: [])
            })
        }
    }

    /// Runs `steps` steps over `samples` samples, `batch` per step, one sample per micro-batch.
    private func run(samples: Int, batch: Int, steps: Int, prior: Int = 0) throws -> (before: [Float], after: [Float]) {
        var config = tinyRunConfig(epochs: 10, batchSize: batch, microBatch: 1)
        config.statisticsPriorUpdates = prior
        let trainer = try freshTrainer(config)
        let store = trainer.network.store
        let engine = TrainingEngine(config: config, trainer: trainer, plan: StepPlan(samples: samples, config: config),
                                    source: ScriptedStatistics(store), validation: nil, log: { _ in })
        let before = store.statistics.array
        try engine.run(until: steps)
        return (before, store.statistics.array)
    }

    func testFirstStepsRunningStatisticsAreTheAverageOfTheMicroBatches() throws {
        let running = try run(samples: 6, batch: 2, steps: 3).after
        for i in [0, 1, running.count / 2, running.count - 1] {
            let mean = (0..<6).map { Self.statistics($0, count: running.count)[i] }.reduce(0, +) / 6
            XCTAssertEqual(running[i], mean, accuracy: 1e-5, "statistic \(i)")
        }
    }

    /// An epoch's short last step (2 of 3 micro-batches) does not renumber the steps after it:
    /// updates are 0, 1, 2 | 3, 4 | 6, 7, 8, so the next step folds in at momentum 6/7, not 5/6.
    func testShortStepDoesNotRenumberLaterUpdates() throws {
        let running = try run(samples: 5, batch: 3, steps: 3).after
        for i in [0, running.count - 1] {
            var expected: Float = 0
            for (k, update) in [0, 1, 2, 3, 4, 6, 7, 8].enumerated() {
                let m = BatchNormStatistics.momentum(update: update)
                expected = m * expected + (1 - m) * Self.statistics(k, count: running.count)[i]
            }
            XCTAssertEqual(running[i], expected, accuracy: 1e-5, "statistic \(i)")
        }
    }

    /// Pretrained statistics (from --init-from) are folded into at momentum 0.99, not replaced.
    func testImportedStatisticsAreKept() throws {
        let (before, running) = try run(samples: 2, batch: 1, steps: 1, prior: BatchNormStatistics.importedPrior)
        let batch = Self.statistics(0, count: running.count)
        for i in [0, running.count - 1] {
            XCTAssertEqual(running[i], 0.99 * before[i] + 0.01 * batch[i], accuracy: 1e-5, "statistic \(i)")
        }
    }

    /// The layer's training forward computes batch statistics and leaves the running ones alone.
    func testTrainingForwardLeavesRunningStatisticsAlone() throws {
        let cards = try cardsDataset(count: 2)
        let config = tinyRunConfig(epochs: 1, batchSize: 2, microBatch: 2)
        let trainer = try freshTrainer(config)
        let store = trainer.network.store
        let before = store.statistics.array
        let batch = BatchLoader(source: cards.sampleSource, renderer: config.renderer, augmentation: .none, seed: 0, threads: 1)
            .load(epoch: 0, indices: [0, 1])
        let result = try MicroBatchComputer(config: config, network: trainer.network).compute(batch, step: 0, epoch: 0, index: 0)
        XCTAssertEqual(store.statistics.array, before, "a training forward moved the running statistics")
        XCTAssertNotEqual(try XCTUnwrap(result.batchStatistics), before, "the micro-batch's statistics were not reported")
    }
}
