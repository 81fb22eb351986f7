// The coordinator and workers when things are slow, restarted or dishonest, over the in-memory
// transport: a step boundary longer than a worker's heartbeat interval ships no image twice; a
// restarted coordinator gets its workers back through `rejoin`; a full coordinator refuses with the
// reason; a worker whose counts do not match its micro-batch is muted and its work requeued, and
// the run still ends with the weights of one process.
import Cluster
import Compute
import Data
import Foundation
import Model
import TestSupport
import Training
import XCTest

final class CoordinatorConductTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// Sleeps at every step end, as a slow validation or checkpoint on the coordinator would.
    private final class SlowStepEnds: TrainingObserver {
        let seconds: Double
        init(_ seconds: Double) { self.seconds = seconds }
        func stepEnded(_ record: StepRecord, engine: TrainingEngine) throws { usleep(UInt32(seconds * 1e6)) }
    }

    private final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
        var text: String { all.joined(separator: "\n") }
    }

    private func coordinator(_ network: InMemoryNetwork, _ cards: KeypointDataset, _ config: RunConfig, _ trainer: Trainer,
                             _ lines: Lines, configure: (inout Coordinator.Options) -> Void = { _ in }) -> (Coordinator, TrainingEngine) {
        var options = Coordinator.Options()
        configure(&options)
        let c = Coordinator(transport: network.coordinator(), dataset: cards, config: config, network: trainer.network,
                            options: options, log: lines.add)
        let engine = TrainingEngine(config: config, trainer: trainer, plan: StepPlan(samples: cards.count, config: config),
                                    source: c, validation: nil, log: lines.add)
        return (c, engine)
    }

    func testAStepBoundaryLongerThanTheHeartbeatIntervalShipsNoImageTwice() throws {
        let cards = try cardsDataset(count: 8)
        let config = tinyRunConfig(epochs: 2, batchSize: 4, microBatch: 2)
        let network = InMemoryNetwork(), lines = Lines()
        let (_, slow) = coordinator(network, cards, config, try freshTrainer(config), lines)
        slow.observers = [SlowStepEnds(1.5)]  // each step boundary: 1.5 s of silence, heartbeats every 0.2 s
        let w = WorkerThread(network, name: "w1", heartbeat: 0.2)
        XCTAssertEqual(try slow.run(), .finished)
        XCTAssertEqual(w.done.wait(timeout: .now() + 20), .success)
        XCTAssertNil(w.error)
        XCTAssertEqual(w.worker.hellos, 1, lines.text)
        XCTAssertFalse(lines.text.contains("restarted"), lines.text)
        let sent = lines.all.filter { $0.hasPrefix("epoch ") }.map { Int($0.components(separatedBy: "sent ")[1].split(separator: " ")[0])! }
        XCTAssertEqual(sent, [8, 0], "every image once in the first epoch, none again: \(lines.text)")
    }

    func testARestartedCoordinatorGetsItsWorkersBackThroughRejoin() throws {
        let cards = try cardsDataset(count: 8)
        let config = tinyRunConfig(epochs: 2, batchSize: 4, microBatch: 2)
        let local = try localEngine(config, train: cards)
        try local.run()

        let network = InMemoryNetwork(), lines = Lines()
        let trainer = try freshTrainer(config)
        let (_, first) = coordinator(network, cards, config, trainer, lines)
        let w = WorkerThread(network, name: "w1", heartbeat: 0.2)
        // The first coordinator stops after 2 steps without a bye, as a killed one would.
        first.stopRequested = { trainer.step >= 2 }
        XCTAssertEqual(try first.run(), .stopped)
        // A new coordinator (a restart) continues from the same state; it knows no worker.
        let (_, second) = coordinator(network, cards, config, trainer, lines)
        XCTAssertEqual(try second.run(), .finished)
        XCTAssertEqual(w.done.wait(timeout: .now() + 20), .success)
        XCTAssertNil(w.error)
        XCTAssertEqual(w.worker.hellos, 2, lines.text)
        XCTAssertEqual(trainer.network.store.parameters.array, local.trainer.network.store.parameters.array)
    }

    func testAFullCoordinatorRefusesWithTheReason() throws {
        let cards = try cardsDataset(count: 8)
        let config = tinyRunConfig(epochs: 2, batchSize: 4, microBatch: 2)
        let network = InMemoryNetwork(), lines = Lines()
        let (_, engine) = coordinator(network, cards, config, try freshTrainer(config), lines) { $0.maxWorkers = 1 }
        let w1 = WorkerThread(network, name: "w1")
        var w2: WorkerThread?
        engine.observers = [AfterStep(1) { w2 = WorkerThread(network, name: "w2") }]
        XCTAssertEqual(try engine.run(), .finished)
        XCTAssertEqual(w1.done.wait(timeout: .now() + 20), .success)
        XCTAssertNil(w1.error)
        XCTAssertEqual(w2?.done.wait(timeout: .now() + 20), .success)
        XCTAssertTrue("\(w2?.error.map { "\($0)" } ?? "")".contains("maximum of 1 workers"), lines.text)
    }

    /// A peer that answers its work with counts that do not match the micro-batch: each answer is
    /// dropped as malformed, and after too many it is muted, removed, and its micro-batch goes to
    /// the honest worker.
    func testAWorkerWhoseCountsDoNotMatchItsMicroBatchIsMutedAndItsWorkRequeued() throws {
        let cards = try cardsDataset(count: 8)
        let config = tinyRunConfig(epochs: 1, batchSize: 4, microBatch: 2)
        let local = try localEngine(config, train: cards)
        try local.run()

        let network = InMemoryNetwork(), lines = Lines()
        let trainer = try freshTrainer(config)
        let (c, engine) = coordinator(network, cards, config, trainer, lines) { $0.minWorkers = 2 }
        // The liar joins first so that it is handed work; it claims 99 samples for every micro-batch.
        let liar = network.worker("a-liar")
        try liar.send(try Message(kind: .hello, HelloFields(name: "a-liar", host: "x", threads: 1, pid: 1)))
        let parameters = trainer.network.store.parameters.count
        final class Liar: @unchecked Sendable {
            let transport: WorkerTransport, parameters: Int
            let done = DispatchSemaphore(value: 0)
            init(_ t: WorkerTransport, _ p: Int) { transport = t; parameters = p }
            func run() {
                while let m = try? transport.receive(timeout: 3000) {
                    guard m.kind == .work, let f = try? m.fields(WorkFields.self) else { continue }
                    for _ in 0..<12 {
                        let g = GradientFields(microBatch: f.microBatch, lossSum: 1, labelled: 8, samples: 99, hasStatistics: false,
                                               failures: [], computeSeconds: 0.1)
                        try? transport.send(try Message(kind: .gradients, step: m.step, g,
                                                        bulk: [.floats([Float](repeating: 1e6, count: parameters))]))
                    }
                }
                done.signal()
            }
        }
        let state = Liar(liar, parameters)
        Thread { state.run() }.start()
        let honest = WorkerThread(network, name: "b-honest")
        XCTAssertEqual(try engine.run(), .finished)
        XCTAssertEqual(honest.done.wait(timeout: .now() + 20), .success)
        XCTAssertNil(honest.error)
        XCTAssertTrue(lines.text.contains("99 computed and 0 skipped of 2 samples"), lines.text)
        XCTAssertTrue(lines.text.contains("muted a-liar"), lines.text)
        XCTAssertTrue(lines.text.contains("worker a-liar removed"), lines.text)
        XCTAssertGreaterThan(c.dropped, 10)
        XCTAssertEqual(trainer.network.store.parameters.array, local.trainer.network.store.parameters.array,
                       "the liar's gradients changed the weights")
        _ = state.done.wait(timeout: .now() + 10)
    }
}
