// The coordinator and workers together over the in-memory transport (fast, deterministic, no
// sockets): the engine with the coordinator as its gradient source ends with the weights of the
// engine computing in this process, bit for bit, with two workers and with a third one joining
// mid-run; images go to each worker once. At bf16 and fp16 on the wire, and with bf16
// convolutions, one worker and three end with the same weights, which differ from f32's. Gradients
// sent in many small buckets change no weight.
import Cluster
import Compute
import Data
import Foundation
import Model
import TestSupport
import Training
import XCTest

final class CoordinatorInMemoryTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    func testCoordinatorWithWorkersGivesTheWeightsOfOneProcess() throws {
        let cards = try cardsDataset(count: 10)
        let config = tinyRunConfig(epochs: 2, batchSize: 4, microBatch: 3)
        let local = try localEngine(config, train: cards)
        try local.run()

        let network = InMemoryNetwork()
        let trainer = try freshTrainer(config)
        var options = Coordinator.Options()
        options.minWorkers = 2
        var lines: [String] = []
        let coordinator = Coordinator(transport: network.coordinator(), dataset: cards, config: config, network: trainer.network,
                                      options: options, log: { lines.append($0) })
        let engine = TrainingEngine(config: config, trainer: trainer, plan: StepPlan(samples: cards.count, config: config),
                                    source: coordinator, validation: nil, log: { lines.append($0) })
        var workers = [WorkerThread(network, name: "w1"), WorkerThread(network, name: "w2")]
        engine.observers = [AfterStep(2) { workers.append(WorkerThread(network, name: "w3")) }]
        XCTAssertEqual(try engine.run(), .finished)
        for w in workers {
            XCTAssertEqual(w.done.wait(timeout: .now() + 20), .success, "a worker did not leave after the bye")
            XCTAssertNil(w.error)
        }
        XCTAssertEqual(trainer.network.store.parameters.array, local.trainer.network.store.parameters.array,
                       "the coordinator's weights differ from one process'")
        XCTAssertEqual(trainer.network.store.statistics.array, local.trainer.network.store.statistics.array)
        XCTAssertEqual(trainer.optimizer.moment2.array, local.trainer.optimizer.moment2.array)
        XCTAssertEqual(coordinator.dropped, 0)
        let joined = lines.filter { $0.contains("joined") }.count, epochs = lines.filter { $0.hasPrefix("epoch ") }
        XCTAssertEqual(joined, 3, lines.joined(separator: "\n"))
        XCTAssertEqual(epochs.count, 2, lines.joined(separator: "\n"))
        // Each image goes to a worker at most once per worker: at most 10 per worker over the run.
        let sent = epochs.compactMap { Int($0.components(separatedBy: "sent ")[1].split(separator: " ")[0]) }
        XCTAssertLessThanOrEqual(sent.reduce(0, +), 30, lines.joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(sent[0], 10, "every image went out in the first epoch")
    }

    /// The weights after training `config` on `cards` with `count` workers over the in-memory network.
    /// Gradients travel in buckets of `bucketBytes`.
    private func distributedWeights(_ config: RunConfig, _ cards: KeypointDataset, workers count: Int,
                                    bucketBytes: Int = ParameterBuckets.defaultBytes) throws -> [Float] {
        let network = InMemoryNetwork()
        let trainer = try freshTrainer(config)
        var options = Coordinator.Options()
        options.minWorkers = count
        options.bucketBytes = bucketBytes
        let coordinator = Coordinator(transport: network.coordinator(), dataset: cards, config: config, network: trainer.network,
                                      options: options, log: { _ in })
        let engine = TrainingEngine(config: config, trainer: trainer, plan: StepPlan(samples: cards.count, config: config),
                                    source: coordinator, validation: nil, log: { _ in })
        let workers = (0..<count).map { WorkerThread(network, name: "w\($0)") }
        XCTAssertEqual(try engine.run(), .finished)
        for w in workers {
            XCTAssertEqual(w.done.wait(timeout: .now() + 20), .success, "a worker did not leave after the bye")
            XCTAssertNil(w.error)
        }
        XCTAssertEqual(coordinator.dropped, 0)
        return trainer.network.store.parameters.array
    }

    func testHalfPrecisionOnTheWireGivesTheSameWeightsForAnyNumberOfWorkers() throws {
        let cards = try cardsDataset(count: 8)
        var config = tinyRunConfig(epochs: 1, batchSize: 4, microBatch: 1)
        let exact = try distributedWeights(config, cards, workers: 1)
        for precision in [WirePrecision.bf16, .fp16] {
            config.wirePrecision = precision
            let one = try distributedWeights(config, cards, workers: 1)
            let three = try distributedWeights(config, cards, workers: 3)
            XCTAssertEqual(one, three, "\(precision): 3 workers differ from 1")
            XCTAssertNotEqual(one, exact, "\(precision) on the wire changed nothing: is it used?")
            let worst = zip(one, exact).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 0.05, "\(precision) strays far from f32 in 2 steps")
        }
    }

    /// Gradients sent in 4 KiB buckets while backward runs (dozens a micro-batch) give the weights
    /// of gradients sent whole, for 1 and 3 workers, at every wire precision; at f32, one process'.
    func testParameterBucketsChangeNoWeights() throws {
        let cards = try cardsDataset(count: 8)
        var config = tinyRunConfig(epochs: 1, batchSize: 4, microBatch: 1)
        let local = try localEngine(config, train: cards)
        try local.run()
        for precision in WirePrecision.allCases {
            config.wirePrecision = precision
            let whole = try distributedWeights(config, cards, workers: 1, bucketBytes: 1 << 30)
            let one = try distributedWeights(config, cards, workers: 1, bucketBytes: 4096)
            let three = try distributedWeights(config, cards, workers: 3, bucketBytes: 4096)
            XCTAssertEqual(one, whole, "\(precision): buckets changed the weights")
            XCTAssertEqual(three, whole, "\(precision): 3 workers with buckets differ from 1 without")
            if precision == .f32 { XCTAssertEqual(whole, local.trainer.network.store.parameters.array, "f32: differs from one process") }
        }
    }

    /// bf16 convolutions (`--precision bf16`, where the CPU has AVX512-BF16): one worker, three
    /// and one process end with the same weights, which differ from f32's. Where the CPU has no
    /// AVX512-BF16, what is checked instead is that a bf16 network refuses to compute, saying why.
    func testBFloat16ComputeGivesTheSameWeightsForAnyNumberOfWorkers() throws {
        var config = tinyRunConfig(epochs: 1, batchSize: 4, microBatch: 1)
        guard Engine.hasBFloat16 else {
            var bf16 = config
            bf16.computePrecision = .bf16
            let cards = try cardsDataset(count: 4)
            XCTAssertThrowsError(try localEngine(bf16, train: cards).run()) { XCTAssertTrue("\($0)".contains("AVX512-BF16"), "\($0)") }
            return
        }
        let cards = try cardsDataset(count: 8)
        let exact = try distributedWeights(config, cards, workers: 1)
        config.computePrecision = .bf16
        let one = try distributedWeights(config, cards, workers: 1)
        let three = try distributedWeights(config, cards, workers: 3)
        let local = try localEngine(config, train: cards)
        try local.run()
        XCTAssertEqual(one, three, "bf16: 3 workers differ from 1")
        XCTAssertEqual(one, local.trainer.network.store.parameters.array, "bf16: the workers differ from one process")
        XCTAssertNotEqual(one, exact, "bf16 convolutions changed nothing: are they used?")
    }
}
