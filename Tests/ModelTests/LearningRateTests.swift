// The trainer's learning rate per step and epoch: the schedule, times the fine-tune factor once the
// frozen-backbone epochs are over. (Training itself is tested through the engine, TrainingTests.)
import XCTest
import Foundation
import Compute
import Model
import TestSupport

final class LearningRateTests: XCTestCase {
    private func makeNetwork(hidden: Int, seed: UInt64) throws -> KeypointNetwork {
        let config = ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(hidden: hidden, dropout: 0),
                                 keypoints: 4, keypointNames: nil)
        let network = try KeypointNetwork(config)
        Initializer.he.initialise(network.store, seed: seed)
        return network
    }

    func testLearningRatePerStepAndEpoch() {
        let network = try! makeNetwork(hidden: 8, seed: 3)
        var config = TrainingConfig()
        config.learningRate = 0.1
        config.schedule = .step(every: 2, gamma: 0.5)
        config.freezeBackboneEpochs = 1
        config.fineTuneFactor = 0.1
        let trainer = Trainer(network: network, config: config)
        // base * gamma^(step / 2), times the fine-tune factor from epoch 1 on.
        assertClose([0, 1, 2, 4].map { trainer.learningRate(step: $0, epoch: 0) }, [0.1, 0.1, 0.05, 0.025],
                    atol: 0, rtol: 1e-6)
        assertClose([trainer.learningRate(step: 4, epoch: 1), trainer.learningRate(step: 4, epoch: 5)],
                    [0.0025, 0.0025], atol: 0, rtol: 1e-6)
        config.freezeBackboneEpochs = 0
        XCTAssertEqual(Trainer(network: network, config: config).learningRate(step: 0, epoch: 3), 0.1,
                       "no fine-tune factor without frozen epochs")
    }
}
