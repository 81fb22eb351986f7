// A worker checks what its coordinator sends as the coordinator checks workers: driven here by a
// hand-played coordinator over the in-memory transport. Malformed messages are dropped with a log
// line; a shard that does not match the model is refused, and work that needs its samples makes
// the worker start afresh with a hello; a configuration it cannot use is reported in a bye before
// the worker leaves with the reason.
import Cluster
import Compute
import Data
import Foundation
import Model
import TestSupport
import Training
import XCTest

final class WorkerValidationTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    private final class Played: @unchecked Sendable {
        let network = InMemoryNetwork()
        let coordinator: CoordinatorTransport
        let worker: Worker
        private let lock = NSLock()
        private var lines: [String] = []
        var error: Error?
        let done = DispatchSemaphore(value: 0)

        init(_ configure: (Worker) -> Void = { _ in }) {
            coordinator = network.coordinator()
            let transport = network.worker("w")
            var log: ((String) -> Void)!
            worker = Worker(transport: transport, hello: HelloFields(name: "w", host: "test", threads: 1, pid: 0), log: { log($0) })
            configure(worker)
            log = { [unowned self] line in lock.lock(); lines.append(line); lock.unlock() }
            Thread { [self] in
                Engine.setThreads(1)
                do { try worker.run() } catch { self.error = error }
                done.signal()
            }.start()
        }

        var log: String { lock.lock(); defer { lock.unlock() }; return lines.joined(separator: "\n") }

        /// The next message of `kind` from the worker (others skipped), within 10 s.
        func next(_ kind: MessageKind) throws -> Message? {
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if let (_, m) = try coordinator.receive(timeout: 200), m.kind == kind { return m }
            }
            return nil
        }

        func send(_ m: Message) throws { XCTAssertEqual(try coordinator.send(m, to: "w"), .sent) }

        /// Waits until the worker's log contains `text`.
        func waitFor(_ text: String) -> Bool {
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline { if log.contains(text) { return true }; usleep(20_000) }
            return false
        }
    }

    func testMalformedAndInconsistentMessagesAreDroppedAndMissingSamplesAskedForAgain() throws {
        let played = Played()
        XCTAssertNotNil(try played.next(.hello))
        // Welcome metadata that is not a configuration: dropped, the worker goes on.
        try played.send(Message(kind: .welcome, metadata: Foundation.Data("{\"config\": 3}".utf8)))
        XCTAssertTrue(played.waitFor("dropped welcome"), played.log)
        let config = tinyRunConfig(epochs: 1, batchSize: 2, microBatch: 2)
        try played.send(try Message(kind: .welcome, WelcomeFields(config: config)))
        XCTAssertTrue(played.waitFor("joined"), played.log + " error: \(String(describing: played.error))")
        // Weights of the wrong size, a message kind workers never get: refused by the transport's limits.
        try played.send(Message(kind: .weights, step: 0, bulk: [.floats([1, 2]), .floats([3])]))
        try played.send(Message(kind: .gradients, step: 0))
        XCTAssertTrue(played.waitFor("gradients is never sent to this side"), played.log)
        XCTAssertTrue(played.log.contains("weights may not carry bulk frames of [8, 4] bytes"), played.log)
        let store = try freshTrainer(config).network.store
        try played.send(Message(kind: .weights, step: 0, bulk: [.floats(store.parameters.array), .floats(store.statistics.array)]))
        // A shard whose sample has 3 coordinates for 4 keypoints (a SampleRenderer would read past them).
        let cards = try cardsDataset(count: 2)
        let bad = ShardFields(indices: [0, 1], keypoints: [[1, 2, 3], cards.labels.records[1].keypoints],
                              visibility: [[1, 1, 1, 1], [1, 1, 1, 1]], paths: ["a.png", "b.png"])
        try played.send(try Message(kind: .shard, step: 0, bad, bulk: [.bytes(cards.images[0]), .bytes(cards.images[1])]))
        XCTAssertTrue(played.waitFor("has 3 coordinates and 4 visibility flags for 4 keypoints"), played.log)
        // Work that needs the refused samples: the worker says hello again, to be sent them.
        try played.send(try Message(kind: .work, step: 0, WorkFields(epoch: 0, microBatch: 0, indices: [0, 1])))
        XCTAssertNotNil(try played.next(.hello), played.log)
        XCTAssertEqual(played.worker.hellos, 2)
        try played.send(try Message(kind: .bye, ReasonFields(reason: "done")))
        XCTAssertEqual(played.done.wait(timeout: .now() + 10), .success)
        XCTAssertNil(played.error, played.log)
    }

    func testAConfigurationTheWorkerCannotUseIsReportedBeforeItLeaves() throws {
        let played = Played()
        XCTAssertNotNil(try played.next(.hello))
        var config = tinyRunConfig(epochs: 1, batchSize: 2, microBatch: 2)
        config.description.flipPairs = [[0, 7]]
        try played.send(try Message(kind: .welcome, WelcomeFields(config: config)))
        guard let bye = try played.next(.bye) else { return XCTFail("no bye from the worker: \(played.log)") }
        XCTAssertTrue(try bye.fields(ReasonFields.self).reason.contains("flip pair [0, 7]"))
        XCTAssertEqual(played.done.wait(timeout: .now() + 10), .success)
        XCTAssertTrue("\(played.error.map { "\($0)" } ?? "")".contains("not two of its 4 keypoints"), "\(String(describing: played.error))")
    }

    /// A run that computes in bf16 is left, with the reason, by a worker whose CPU has no
    /// AVX512-BF16 (every worker of a run computes in one precision); a worker whose CPU has it joins.
    func testABFloat16RunIsLeftByAWorkerThatCannotComputeInBFloat16() throws {
        let played = Played()
        XCTAssertNotNil(try played.next(.hello))
        var config = tinyRunConfig(epochs: 1, batchSize: 2, microBatch: 2)
        config.computePrecision = .bf16
        try played.send(try Message(kind: .welcome, WelcomeFields(config: config)))
        if Engine.hasBFloat16 {
            XCTAssertTrue(played.waitFor("bf16 convolutions"), played.log)
            try played.send(Message(kind: .bye))
        } else {
            guard let bye = try played.next(.bye) else { return XCTFail("no bye from the worker: \(played.log)") }
            XCTAssertTrue(try bye.fields(ReasonFields.self).reason.contains("computes in bf16"))
        }
        XCTAssertEqual(played.done.wait(timeout: .now() + 10), .success)
    }

    /// A coordinator that is gone (no message at all) is given up on after `giveUpAfter`, with a
    /// hint first; one that keeps sending heartbeats is waited for however long the step takes.
    func testASilentCoordinatorIsGivenUpOnAndAHeartbeatKeepsTheWorker() throws {
        let silent = Played { $0.giveUpAfter = 1.5; $0.welcomeHint = 0.5 }
        XCTAssertNotNil(try silent.next(.hello))
        XCTAssertEqual(silent.done.wait(timeout: .now() + 10), .success, "the worker waited forever")
        XCTAssertTrue("\(silent.error.map { "\($0)" } ?? "")".contains("heard nothing from the coordinator for 1 s: giving up"),
                      "\(String(describing: silent.error))")
        XCTAssertTrue(silent.log.contains("no welcome from the coordinator after 0 s") && silent.log.contains("--name"), silent.log)

        let kept = Played { $0.giveUpAfter = 1.5 }
        XCTAssertNotNil(try kept.next(.hello))
        let until = Date().addingTimeInterval(4)
        while Date() < until {
            try kept.send(Message(kind: .heartbeat))
            XCTAssertEqual(kept.done.wait(timeout: .now() + 0.5), .timedOut, "gave up although the coordinator spoke: \(String(describing: kept.error))")
        }
        try kept.send(try Message(kind: .bye, ReasonFields(reason: "training finished")))
        XCTAssertEqual(kept.done.wait(timeout: .now() + 10), .success)
        XCTAssertNil(kept.error)
    }

    /// A coordinator's refusal ends the worker with the reason, and no bye (the coordinator knows).
    func testARefusalEndsTheWorkerWithTheReason() throws {
        let played = Played()
        XCTAssertNotNil(try played.next(.hello))
        try played.send(try Message(kind: .refused, ReasonFields(reason: "the coordinator has its maximum of 1 workers")))
        XCTAssertEqual(played.done.wait(timeout: .now() + 10), .success)
        XCTAssertTrue("\(played.error.map { "\($0)" } ?? "")".contains("refused this worker: the coordinator has its maximum"),
                      "\(String(describing: played.error))")
        XCTAssertNil(try played.coordinator.receive(timeout: 300).flatMap { $0.1.kind == .bye ? $0.1 : nil }, "a refused worker said bye")
    }
}
