// Folding workers' BN statistics: over a run's first updates the running statistics are the plain
// average of every micro-batch's statistics so far (not 1% of the first batch and 99% of the
// initial values), then an exponential average with Keras' momentum 0.99.
import Cluster
import Foundation
import Model
import XCTest

final class GradientReductionTests: XCTestCase {
    func testMomentumAveragesPlainlyAtFirstThenExponentially() {
        XCTAssertEqual(KeypointNetwork.statisticsMomentum(update: 0), 0)
        XCTAssertEqual(KeypointNetwork.statisticsMomentum(update: 1), 0.5)
        XCTAssertEqual(KeypointNetwork.statisticsMomentum(update: 3), 0.75)
        XCTAssertEqual(KeypointNetwork.statisticsMomentum(update: 99), 0.99)
        XCTAssertEqual(KeypointNetwork.statisticsMomentum(update: 5000), 0.99)
    }

    private func makeTrainer() throws -> Trainer {
        let model = ModelConfig(backbone: MobileNetV1Config(alpha: 0.25, inputSize: 96), head: RegressionHeadConfig(hidden: 8))
        let network = try KeypointNetwork(model)
        Initializer.he.initialise(network.store, seed: 1)
        return Trainer(network: network, config: TrainingConfig())
    }

    /// Distinct statistics for micro-batch k: every value k + 1 plus a per-position pattern.
    private func statistics(_ k: Int, count: Int) -> [Float] { (0..<count).map { Float(k + 1) + Float($0 % 7) * 0.25 } }

    /// Applies steps of `sizes[s]` micro-batches (handed over out of order, as workers finish) whose
    /// statistics are `statistics(0)`, `statistics(1)`, ... in micro-batch order; returns the running ones.
    private func runSteps(_ trainer: Trainer, sizes: [Int]) throws -> [Float] {
        let store = trainer.network.store
        var k = 0
        for size in sizes {
            let results = (0..<size).reversed().map { j in
                MicroBatchResult(index: j, lossSum: 1, labelled: 8, samples: 4,
                                 gradients: [Float](repeating: 0, count: store.layout.parameterCount),
                                 batchStatistics: statistics(k + j, count: store.layout.statisticCount), failures: [])
            }
            _ = try GradientReduction.apply(results, to: trainer, epoch: 0)
            k += size
        }
        return Array(UnsafeBufferPointer(start: store.statistics.base, count: store.layout.statisticCount))
    }

    func testFirstStepsRunningStatisticsAreTheAverageOfTheMicroBatches() throws {
        let trainer = try makeTrainer()
        let running = try runSteps(trainer, sizes: [2, 2, 2])
        for i in [0, 1, running.count / 2, running.count - 1] {
            let mean = (0..<6).map { statistics($0, count: running.count)[i] }.reduce(0, +) / 6
            XCTAssertEqual(running[i], mean, accuracy: 1e-5, "statistic \(i)")
        }
    }

    /// An epoch's short last step (2 of 3 micro-batches) does not renumber the steps after it:
    /// updates are 0, 1, 2 | 3, 4 | 6, 7, 8, so the next step folds in at momentum 6/7, not 5/6.
    func testShortStepDoesNotRenumberLaterUpdates() throws {
        let trainer = try makeTrainer()
        trainer.microBatchesPerStep = 3
        let running = try runSteps(trainer, sizes: [3, 2, 3])
        for i in [0, running.count - 1] {
            var expected: Float = 0
            for (k, update) in [0, 1, 2, 3, 4, 6, 7, 8].enumerated() {
                let m = KeypointNetwork.statisticsMomentum(update: update)
                expected = m * expected + (1 - m) * statistics(k, count: running.count)[i]
            }
            XCTAssertEqual(running[i], expected, accuracy: 1e-5, "statistic \(i)")
        }
    }

    /// Pretrained statistics (from --init-from) are folded into at momentum 0.99, not replaced.
    func testPretrainedStatisticsAreKept() throws {
        let trainer = try makeTrainer()
        trainer.priorStatisticsUpdates = 100
        let store = trainer.network.store
        let before = Array(UnsafeBufferPointer(start: store.statistics.base, count: store.layout.statisticCount))
        let running = try runSteps(trainer, sizes: [1])
        let batch = statistics(0, count: running.count)
        for i in [0, running.count - 1] {
            XCTAssertEqual(running[i], 0.99 * before[i] + 0.01 * batch[i], accuracy: 1e-5, "statistic \(i)")
        }
    }
}
