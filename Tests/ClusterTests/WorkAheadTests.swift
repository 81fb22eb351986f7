// What a worker is sent, watched from a hand-driven worker end: two micro-batches before it has
// answered any, and the next step's micro-batches before that step's weights (so it can decode them
// during the coordinator's update), then those weights; with one micro-batch a step, the next step's
// while it still computes this one's; and this step's work requeued to a worker that holds the next's.
import Cluster
import Compute
import Foundation
import Model
import TestSupport
import Training
import XCTest

final class WorkAheadTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// The messages `end` receives within `seconds` until `until` says stop, in order.
    private func receive(_ end: WorkerTransport, seconds: Double = 20, until: ([Message]) -> Bool) throws -> [Message] {
        var got: [Message] = []
        let deadline = Date().addingTimeInterval(seconds)
        while !until(got), Date() < deadline {
            if let m = try end.receive(timeout: 100) { got.append(m) }
        }
        return got
    }

    /// The engine, run on a thread of its own while the test plays the worker.
    private final class Run: @unchecked Sendable {
        let engine: TrainingEngine, finished = DispatchSemaphore(value: 0)
        init(_ engine: TrainingEngine) { self.engine = engine }
        func start() { Thread { [self] in _ = try? engine.run(); finished.signal() }.start() }
    }

    /// A coordinator over `count` cards training with `config`, its engine started, and a hand
    /// worker end that said hello; `answer` sends a zero gradient for a work message (every sample
    /// computed, none labelled).
    private func start(cards count: Int, _ config: RunConfig) throws
        -> (run: Run, coordinator: Coordinator, trainer: Trainer, end: WorkerTransport, answer: (Message) throws -> Void,
            network: InMemoryNetwork) {
        let cards = try cardsDataset(count: count)
        let network = InMemoryNetwork()
        let trainer = try freshTrainer(config)
        let coordinator = Coordinator(transport: network.coordinator(), dataset: cards, config: config, network: trainer.network,
                                      options: Coordinator.Options(), log: { _ in })
        let engine = TrainingEngine(config: config, trainer: trainer, plan: StepPlan(samples: cards.count, config: config),
                                    source: coordinator, validation: nil, log: { _ in })
        let run = Run(engine)
        run.start()
        let end = network.worker("hand")
        try end.send(try Message(kind: .hello, HelloFields(name: "hand", host: "test", threads: 1, pid: 0)))
        let parameters = trainer.network.store.parameters.count
        let answer = { (work: Message) throws in try Self.answer(work, from: end, parameters: parameters) }
        return (run, coordinator, trainer, end, answer, network)
    }

    /// Sends from `end` a zero gradient of `parameters` floats for `work` (every sample computed, none labelled).
    private static func answer(_ work: Message, from end: WorkerTransport, parameters: Int) throws {
        let f = try work.fields(WorkFields.self)
        let fields = GradientFields(microBatch: f.microBatch, lossSum: 0, labelled: 0, samples: f.indices.count,
                                    hasStatistics: false, failures: [], computeSeconds: 0.01)
        try end.send(try Message(kind: .gradients, step: work.step, fields, bulk: [.floats([Float](repeating: 0, count: parameters))]))
    }

    func testWithOneMicroBatchAStepTheNextStepsWorkComesBeforeThisOneIsAnswered() throws {
        let config = tinyRunConfig(epochs: 1, batchSize: 2, microBatch: 2)  // 2 steps of 1 micro-batch
        let (run, coordinator, trainer, end, answer, _) = try start(cards: 4, config)
        let works = { (ms: [Message]) in ms.filter { $0.kind == .work } }
        let first = try receive(end) { works($0).count == 2 }
        XCTAssertEqual(first.map(\.kind).filter { $0 != .shard && $0 != .heartbeat }, [.welcome, .weights, .work, .work],
                       "\(first.map(\.summary))")
        XCTAssertEqual(works(first).map(\.step), [0, 1], "step 1's work comes while step 0's is unanswered, to be decoded meanwhile")
        try answer(works(first)[0])
        let second = try receive(end) { $0.contains { $0.kind == .weights } }
        XCTAssertEqual(second.filter { $0.kind == .weights }.map(\.step), [1])
        try answer(works(first)[1])
        XCTAssertEqual(run.finished.wait(timeout: .now() + 20), .success, "the run did not finish on the ahead work's answer")
        XCTAssertEqual(coordinator.dropped, 0)
        XCTAssertEqual(trainer.step, 2)
    }

    func testAWorkerHoldsTwoMicroBatchesAndGetsTheNextStepsAheadOfItsWeights() throws {
        let config = tinyRunConfig(epochs: 1, batchSize: 4, microBatch: 2)  // 2 steps of 2 micro-batches
        let (run, coordinator, trainer, end, answer, _) = try start(cards: 8, config)
        let works = { (ms: [Message]) in ms.filter { $0.kind == .work } }

        let first = try receive(end) { works($0).count == 2 }
        XCTAssertEqual(first.map(\.kind).filter { $0 != .shard }, [.welcome, .weights, .work, .work], "\(first.map(\.summary))")
        XCTAssertEqual(Set(try works(first).map { try $0.fields(WorkFields.self).microBatch }), [0, 1])
        XCTAssertTrue(works(first).allSatisfy { $0.step == 0 })
        for w in works(first) { try answer(w) }

        let second = try receive(end) { $0.contains { $0.kind == .weights } }
        let kinds = second.map(\.kind).filter { $0 != .shard && $0 != .heartbeat }
        XCTAssertEqual(kinds, [.work, .work, .weights], "step 1's work comes ahead of its weights: \(second.map(\.summary))")
        XCTAssertTrue(works(second).allSatisfy { $0.step == 1 })
        XCTAssertEqual(second.last?.step, 1)
        for w in works(second) { try answer(w) }

        XCTAssertEqual(run.finished.wait(timeout: .now() + 20), .success, "the run did not finish on the ahead work's answers")
        XCTAssertEqual(coordinator.dropped, 0)
        XCTAssertEqual(trainer.step, 2)
    }

    /// A worker that joins once this step's work is all handed out gets the next step's ahead; if
    /// the worker holding this step's then leaves, its micro-batches go to the one holding the next
    /// step's (which could not be computed before this step ends: the run would wait for ever).
    func testThisStepsRequeuedWorkIsNotKeptFromAWorkerHoldingTheNextStepsWork() throws {
        let config = tinyRunConfig(epochs: 1, batchSize: 4, microBatch: 2)  // 2 steps of 2 micro-batches
        let (run, coordinator, trainer, first, _, network) = try start(cards: 8, config)
        let works = { (ms: [Message]) in ms.filter { $0.kind == .work } }
        XCTAssertTrue(works(try receive(first) { works($0).count == 2 }).allSatisfy { $0.step == 0 })

        let second = network.worker("second")
        try second.send(try Message(kind: .hello, HelloFields(name: "second", host: "test", threads: 1, pid: 1)))
        let ahead = try receive(second) { works($0).count == 2 }
        XCTAssertEqual(works(ahead).map(\.step), [1, 1], "the newcomer gets step 1's work ahead: \(ahead.map(\.summary))")

        try first.send(try Message(kind: .bye, ReasonFields(reason: "test")))
        let requeued = try receive(second) { works($0).count == 2 }
        XCTAssertEqual(works(requeued).map(\.step), [0, 0], "step 0's work goes to the worker holding step 1's: \(requeued.map(\.summary))")
        let parameters = trainer.network.store.parameters.count
        for w in works(requeued) { try Self.answer(w, from: second, parameters: parameters) }
        XCTAssertEqual(try receive(second) { $0.contains { $0.kind == .weights } }.last?.step, 1)
        for w in works(ahead) { try Self.answer(w, from: second, parameters: parameters) }

        XCTAssertEqual(run.finished.wait(timeout: .now() + 20), .success, "the run did not finish")
        XCTAssertEqual(coordinator.dropped, 0)
        XCTAssertEqual(trainer.step, 2)
    }
}
