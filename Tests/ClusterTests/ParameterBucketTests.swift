// Weights and gradients in buckets (protocol v6): a plan that tiles the layout and whose frames are
// the whole frame in pieces at every wire precision; a worker that computes with weights as their
// buckets come and sends its gradient buckets last tensors first and then the gradients, which
// together are the gradient it sends whole; and a coordinator that takes a micro-batch only when
// all its buckets came, once each.
import Cluster
import Compute
import Data
import Foundation
import Model
import TestSupport
import Training
import XCTest

final class ParameterBucketTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    private let config = tinyRunConfig(epochs: 1, batchSize: 2, microBatch: 2)

    func testBucketFramesAreTheWholeFrameInPieces() throws {
        let layout = config.model.layout
        // Magnitudes that differ by tensor, so fp16's per-tensor scales differ too.
        var values = randomArray(layout.parameterCount, seed: 11)
        for (t, spec) in layout.parameters.enumerated() {
            for i in spec.range { values[i] *= Float(sign: .plus, exponent: t % 40 - 30, significand: 1) }
        }
        for precision in WirePrecision.allCases {
            let wire = WireFloats(precision: precision, layout: layout)
            let whole = try XCTUnwrap(wire.floats(wire.frame(values)))
            for bytes in [1, 4096, 50_000, 1 << 30] {
                let buckets = ParameterBuckets(wire: wire, bytes: bytes)
                XCTAssertEqual(buckets.tensors.first?.lowerBound, 0)
                XCTAssertEqual(buckets.tensors.last?.upperBound, layout.parameters.count)
                XCTAssertTrue(zip(buckets.tensors, buckets.tensors.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && !$0.isEmpty })
                XCTAssertTrue(buckets.frameBytes.dropFirst().allSatisfy { $0 >= bytes }, "\(precision) \(bytes): a bucket but the first under the size")
                XCTAssertEqual(buckets.frameBytes.reduce(0, +), wire.frameBytes, "\(precision) \(bytes): the pieces' bytes are the whole's")
                if bytes == 1 { XCTAssertEqual(buckets.count, layout.parameters.count, "one tensor a bucket") }
                if bytes == 1 << 30 { XCTAssertEqual(buckets.count, 1, "one bucket: the gradient travels whole") }
                var assembled = [Float](repeating: .nan, count: values.count)
                for (b, tensors) in buckets.tensors.enumerated().reversed() {
                    let frame = values.withUnsafeBufferPointer { wire.frame($0.baseAddress!, tensors: tensors) }
                    XCTAssertEqual(frame.count, buckets.frameBytes[b])
                    XCTAssertTrue(assembled.withUnsafeMutableBufferPointer { wire.decode(frame, tensors: tensors, into: $0.baseAddress!) })
                    // A frame of another bucket's size is refused, writing nothing.
                    if bytes == 4096 {
                        let other = buckets.tensors[(b + 1) % buckets.count]
                        if wire.frameBytes(tensors: other) != frame.count {
                            var untouched = assembled
                            XCTAssertFalse(untouched.withUnsafeMutableBufferPointer { wire.decode(frame, tensors: other, into: $0.baseAddress!) })
                            XCTAssertEqual(untouched.map(\.bitPattern), assembled.map(\.bitPattern))
                        }
                    }
                }
                XCTAssertEqual(assembled.map(\.bitPattern), whole.map(\.bitPattern), "\(precision) \(bytes): buckets differ from the whole frame")
            }
        }
    }

    /// The worker driven by a hand-played coordinator, with 8 KiB buckets: given only the first
    /// bucket of its weights, it starts and waits for the rest (no gradients come); given the
    /// rest, it sends gradient buckets n-1...1, then the gradients with bucket 0. With one bucket
    /// the same work comes back whole, and the two are the same floats. Weights of a newer step
    /// that come while a forward waits for a bucket make its micro-batch stale, not a hang.
    func testAWorkerComputesWithWeightsAsTheyComeAndSendsItsGradientInBuckets() throws {
        let network = InMemoryNetwork()
        let coordinator = network.coordinator()
        let lock = NSLock()
        var lines: [String] = []
        let worker = Worker(transport: network.worker("w"), hello: HelloFields(name: "w", host: "test", threads: 1, pid: 0),
                            log: { line in lock.lock(); lines.append(line); lock.unlock() })
        let done = DispatchSemaphore(value: 0)
        let running = Unchecked(worker)
        Thread { Engine.setThreads(1); _ = try? running.value.run(); done.signal() }.start()
        var ended = false
        defer { if !ended { _ = try? coordinator.send(Message(kind: .bye), to: "w"); _ = done.wait(timeout: .now() + 10) } }

        /// The next message from the worker that is not a heartbeat, within `seconds`.
        func next(within seconds: Double = 30) throws -> Message? {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline { if let (_, m) = try coordinator.receive(timeout: 50), m.kind != .heartbeat { return m } }
            return nil
        }
        func send(_ m: Message) throws { XCTAssertEqual(try coordinator.send(m, to: "w"), .sent) }
        XCTAssertEqual(try next()?.kind, .hello)
        let store = try freshTrainer(config).network.store
        let wire = WireFloats(precision: .bf16, layout: store.layout)
        var bf16 = config
        bf16.wirePrecision = .bf16
        let cards = try cardsDataset(count: 2)
        let records = cards.labels.records
        let shard = try Message(kind: .shard, step: 0, ShardFields(indices: [0, 1], keypoints: records.map(\.keypoints),
                                                                   visibility: records.map(\.visibility), paths: records.map(\.imagePath)),
                                bulk: cards.images.map { .bytes($0) })
        let work = try Message(kind: .work, step: 0, WorkFields(epoch: 0, microBatch: 0, indices: [0, 1]))
        /// Weights buckets `which` of `step` in `buckets` (bucket 0 with the statistics).
        func weights(step: UInt64, _ buckets: ParameterBuckets, _ which: [Int]) throws -> [Message] {
            try which.map { b in
                try Message(kind: .weights, step: step, WeightsFields(epoch: 0, bucket: b),
                            bulk: [wire.frame(store.parameters.base, tensors: buckets.tensors[b])] + (b == 0 ? [.floats(store.statistics.array)] : []))
            }
        }
        /// The worker's answer to micro-batch 0: messages up to its gradients.
        func answer() throws -> [Message] {
            var got: [Message] = []
            while got.last?.kind != .gradients, let m = try next() { got.append(m) }
            return got
        }

        let buckets = ParameterBuckets(wire: wire, bytes: 8192)
        XCTAssertGreaterThan(buckets.count, 5, "the tiny model in 8 KiB buckets")
        try send(try Message(kind: .welcome, WelcomeFields(config: bf16, bucketBytes: 8192)))
        for m in try [shard] + weights(step: 0, buckets, [0]) + [work] { try send(m) }
        XCTAssertNil(try next(within: 0.5), "the worker answered without all its weights")
        for m in try weights(step: 0, buckets, Array(1..<buckets.count)) { try send(m) }
        let pieces = try answer()
        XCTAssertEqual(pieces.map(\.kind), Array(repeating: .gradientBucket, count: buckets.count - 1) + [.gradients])
        let order = try pieces.dropLast().map { try $0.fields(GradientBucketFields.self) }
        XCTAssertEqual(order.map(\.bucket), Array((1..<buckets.count).reversed()), "gradient buckets go out last tensors first")
        XCTAssertTrue(order.allSatisfy { $0.microBatch == 0 })
        var assembled = [Float](repeating: .nan, count: wire.count)
        for (b, m) in zip(order.map(\.bucket), pieces) + [(0, pieces.last!)] {
            XCTAssertTrue(assembled.withUnsafeMutableBufferPointer { wire.decode(m.bulk[0], tensors: buckets.tensors[b], into: $0.baseAddress!) },
                          "bucket \(b) of \(m.bulk[0].count) bytes")
        }

        let one = ParameterBuckets(wire: wire, bytes: 1 << 30)
        try send(try Message(kind: .welcome, WelcomeFields(config: bf16, bucketBytes: 1 << 30)))
        for m in try weights(step: 0, one, [0]) + [shard, work] { try send(m) }
        let whole = try answer()
        XCTAssertEqual(whole.map(\.kind), [.gradients], "one bucket: the gradient travels whole")
        let expected = try XCTUnwrap(wire.floats(whole[0].bulk[0]))
        XCTAssertEqual(assembled.map(\.bitPattern), expected.map(\.bitPattern), "the buckets are not the whole gradient")
        XCTAssertTrue(expected.contains { $0 != 0 })
        XCTAssertEqual(pieces.last!.bulk[1].data, whole[0].bulk[1].data, "BN statistics differ")

        // A forward waiting for bucket 1 of step 0 when step 1's weights start: stale, and the worker goes on.
        try send(try Message(kind: .welcome, WelcomeFields(config: bf16, bucketBytes: 8192)))
        for m in try weights(step: 0, buckets, [0]) + [shard, work] { try send(m) }
        XCTAssertNil(try next(within: 0.5), "the worker answered without all its weights")
        for m in try weights(step: 1, buckets, [0]) { try send(m) }
        let deadline = Date().addingTimeInterval(10)
        func logged() -> String { lock.lock(); defer { lock.unlock() }; return lines.joined(separator: "\n") }
        while !logged().contains("dropped micro-batch 0 of step 0: weights for step 1 came first"), Date() < deadline { usleep(20_000) }
        XCTAssertTrue(logged().contains("dropped micro-batch 0 of step 0: weights for step 1 came first"), logged())
        try send(Message(kind: .bye))
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "the worker did not leave")
        ended = true
    }

    /// A hand-played worker answers the coordinator's work: gradients without their buckets, a
    /// bucket twice and a bucket the layout does not have are each dropped as malformed; the
    /// micro-batch counts once its buckets and then its gradients came.
    func testTheCoordinatorTakesAMicroBatchOnlyWithAllItsBucketsOnceEach() throws {
        let cards = try cardsDataset(count: 2)
        let network = InMemoryNetwork()
        let trainer = try freshTrainer(config)
        var options = Coordinator.Options()
        options.bucketBytes = 16384
        let lock = NSLock()
        var lines: [String] = []
        let coordinator = Coordinator(transport: network.coordinator(), dataset: cards, config: config, network: trainer.network,
                                      options: options, log: { line in lock.lock(); lines.append(line); lock.unlock() })
        let engine = TrainingEngine(config: config, trainer: trainer, plan: StepPlan(samples: cards.count, config: config),
                                    source: coordinator, validation: nil, log: { _ in })
        let finished = DispatchSemaphore(value: 0)
        let running = Unchecked(engine)
        Thread { _ = try? running.value.run(); finished.signal() }.start()

        let end = network.worker("hand")
        try end.send(try Message(kind: .hello, HelloFields(name: "hand", host: "test", threads: 1, pid: 0)))
        var work: Message?
        let deadline = Date().addingTimeInterval(20)
        while work == nil, Date() < deadline { if let m = try end.receive(timeout: 100), m.kind == .work { work = m } }
        let w = try XCTUnwrap(work, "no work for the hand worker")
        let microBatch = try w.fields(WorkFields.self).microBatch

        let wire = WireFloats(precision: config.wirePrecision, layout: trainer.network.store.layout)
        let buckets = ParameterBuckets(wire: wire, bytes: 16384)
        XCTAssertGreaterThan(buckets.count, 2)
        let zeros = [Float](repeating: 0, count: wire.count)
        func bucket(_ b: Int, tensors: Range<Int>? = nil) throws -> Message {
            let frame = zeros.withUnsafeBufferPointer { wire.frame($0.baseAddress!, tensors: tensors ?? buckets.tensors[b]) }
            return try Message(kind: .gradientBucket, step: w.step, GradientBucketFields(microBatch: microBatch, bucket: b), bulk: [frame])
        }
        let gradients = try Message(kind: .gradients, step: w.step,
                                    GradientFields(microBatch: microBatch, lossSum: 0, labelled: 0, samples: 2, hasStatistics: false,
                                                   failures: [], computeSeconds: 0.01),
                                    bulk: [zeros.withUnsafeBufferPointer { wire.frame($0.baseAddress!, tensors: buckets.tensors[0]) }])
        func waitForDrops(_ n: Int) -> Bool {
            let until = Date().addingTimeInterval(10)
            while coordinator.dropped < n, Date() < until { usleep(10_000) }
            return coordinator.dropped == n
        }
        try end.send(gradients)
        XCTAssertTrue(waitForDrops(1), "gradients without their buckets were taken")
        try end.send(bucket(1))
        try end.send(bucket(1))
        XCTAssertTrue(waitForDrops(2), "a bucket taken twice")
        try end.send(bucket(buckets.count, tensors: buckets.tensors[1]))
        XCTAssertTrue(waitForDrops(3), "a bucket the layout does not have was taken")
        // Bucket 1 is held already: the others, then the gradients.
        for b in (2..<buckets.count).reversed() { try end.send(bucket(b)) }
        try end.send(gradients)
        XCTAssertEqual(finished.wait(timeout: .now() + 20), .success, "the step never completed: \(lines.joined(separator: "\n"))")
        XCTAssertEqual(trainer.step, 1)
        XCTAssertEqual(coordinator.dropped, 3)
        lock.lock(); let log = lines.joined(separator: "\n"); lock.unlock()
        XCTAssertTrue(log.contains("without bucket(s) "), log)
        XCTAssertTrue(log.contains("bucket 1 a second time"), log)
        XCTAssertTrue(log.contains("bucket \(buckets.count), which the layout does not have"), log)
    }
}

/// A value handed to a thread that alone uses it from then on.
private final class Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
