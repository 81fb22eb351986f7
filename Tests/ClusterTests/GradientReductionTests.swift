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

    func testFirstStepsRunningStatisticsAreTheAverageOfTheMicroBatches() throws {
        let model = ModelConfig(backbone: MobileNetV1Config(alpha: 0.25, inputSize: 96), head: RegressionHeadConfig(hidden: 8))
        let network = try KeypointNetwork(model)
        Initializer.he.initialise(network.store, seed: 1)
        let trainer = Trainer(network: network, config: TrainingConfig())
        let parameters = network.store.layout.parameterCount, statistics = network.store.layout.statisticCount
        let batches: [[Float]] = (0..<6).map { k in (0..<statistics).map { Float(k + 1) + Float($0 % 7) * 0.25 } }
        for step in 0..<3 {
            // Two micro-batches per step, handed over out of order (as workers finish).
            let results = [1, 0].map { j in
                MicroBatchResult(index: j, lossSum: 1, labelled: 8, samples: 4, gradients: [Float](repeating: 0, count: parameters),
                                 batchStatistics: batches[2 * step + j], failures: [])
            }
            _ = try GradientReduction.apply(results, to: trainer, epoch: 0)
        }
        let running = Array(UnsafeBufferPointer(start: network.store.statistics.base, count: statistics))
        for i in [0, 1, statistics / 2, statistics - 1] {
            let mean = batches.map { $0[i] }.reduce(0, +) / 6
            XCTAssertEqual(running[i], mean, accuracy: 1e-5, "statistic \(i)")
        }
    }
}
