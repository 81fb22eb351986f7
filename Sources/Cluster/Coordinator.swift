// The coordinator as a gradient source: hands each step's micro-batches to whichever workers are
// alive (ShardFields first for samples they lack), collects every result exactly once, and after
// the engine's update broadcasts the new weights. The engine (Training) does the reduction and the
// optimizer, exactly as in one process.
import Data
import Foundation
import Model
import Training

public final class Coordinator: GradientSource {
    public struct Options {
        /// Workers needed before the first step.
        public var minWorkers = 1
        /// A worker that has not answered a micro-batch within this many seconds is dropped and
        /// its micro-batch given to another.
        public var stepDeadline: Double = 600
        /// A step waiting longer than this (seconds) logs which workers it waits for.
        public var stallWarning: Double = 30
        public init() {}
    }

    private let transport: CoordinatorTransport
    private let dataset: KeypointDataset
    private let config: RunConfig
    /// The engine's network: the weights every worker computes with.
    private let store: ParameterStore
    private let stepsPerEpoch: Int
    private let options: Options
    private let log: (String) -> Void
    private var members = Membership()
    /// Malformed messages dropped so far.
    public private(set) var dropped = 0
    /// False until `minWorkers` workers joined for the first time; no work is handed out before.
    /// Never reset: later steps go on with whoever is alive.
    private var started = false
    /// Image bytes sent to workers since the last epoch end (each sample goes to a worker once).
    private var shipped: (images: Int, bytes: Int) = (0, 0)

    /// The step being collected: its work, what is not handed out yet, and what came back.
    private struct Collection {
        var work: StepWork
        var pending: [Int]
        var results: [Int: MicroBatchResult] = [:]
        var roundTrips = 0.0
    }

    public init(transport: CoordinatorTransport, dataset: KeypointDataset, config: RunConfig, network: KeypointNetwork,
                options: Options, log: @escaping (String) -> Void) {
        self.transport = transport
        self.dataset = dataset
        self.config = config
        self.store = network.store
        self.stepsPerEpoch = StepPlan(samples: dataset.count, config: config).stepsPerEpoch
        self.options = options
        self.log = log
        transport.onDropped = { [weak self] peer, why in self?.drop("a malformed message from \(peer): \(why)") }
    }

    private func drop(_ what: String) {
        dropped += 1
        log("dropped \(what) (\(dropped) so far)")
    }

    // MARK: GradientSource

    public func gradients(for work: StepWork, shouldStop: () -> Bool) throws -> SourcedGradients {
        var c = Collection(work: work, pending: Array(work.microBatches.indices))
        members.clearAssignments()
        let stepStarted = Date()
        var lastProbe = Date(), lastStall = Date(), lastWait = Date.distantPast
        while c.results.count < work.microBatches.count {
            started = started || members.count >= options.minWorkers
            if started { try dispatch(&c) }
            if (!started || members.count == 0) && Date().timeIntervalSince(lastWait) > 10 {
                log("waiting for workers (\(members.count) connected, \(options.minWorkers) needed) at step \(work.step)")
                lastWait = Date()
            }
            if shouldStop() { throw TrainingStopped() }
            if Date().timeIntervalSince(lastProbe) >= 1 {
                try probe(&c)
                lastProbe = Date()
                let waited = Date().timeIntervalSince(stepStarted)
                if waited > options.stallWarning && Date().timeIntervalSince(lastStall) > options.stallWarning {
                    let busy = members.busy
                    log("step \(work.step) has waited \(Int(waited)) s; "
                        + (busy.isEmpty ? "no worker is connected: start one with `keypoints worker --connect ...`"
                                        : "waiting for \(busy.joined(separator: ", "))"))
                    lastStall = Date()
                }
            }
            if let (peer, m) = try transport.receive(timeout: 500) { try handle(m, from: peer, &c) }
        }
        let results = work.microBatches.indices.compactMap { c.results[$0] }
        return SourcedGradients(results: results, roundTripSeconds: c.roundTrips, workers: members.count)
    }

    public func stepDone(stepsDone: Int, more: Bool) throws {
        if more { try broadcastWeights(step: stepsDone, epoch: stepsDone / stepsPerEpoch) }
        if stepsDone % stepsPerEpoch == 0 {
            log(String(format: "epoch %d: sent %d image(s) (%.1f MB) to workers", stepsDone / stepsPerEpoch, shipped.images,
                       Double(shipped.bytes) / 1e6))
            shipped = (0, 0)
        }
    }

    public func finish(completed: Bool) {
        guard completed else { return }
        for peer in members.names {
            _ = try? transport.send(try Message(kind: .bye, ReasonFields(reason: "training finished")), to: peer)
        }
    }

    // MARK: Messages

    private func handle(_ m: Message, from peer: PeerID, _ c: inout Collection) throws {
        switch m.kind {
        case .hello:
            guard let hello = try? m.fields(HelloFields.self) else { return drop("a malformed hello from \(peer)") }
            try welcome(peer, hello, &c)
        case .gradients:
            receiveGradients(m, from: peer, &c)
        case .bye:
            forget(peer, &c, reason: "left")
        case .heartbeat:
            return
        default:
            log("ignored \(m.summary) from \(peer)")
        }
    }

    /// Answers a hello with the configuration and the current weights. A known name that says
    /// hello again restarted: it is treated as new (its samples are sent again as needed).
    private func welcome(_ peer: PeerID, _ hello: HelloFields, _ c: inout Collection) throws {
        if members.contains(peer) { forget(peer, &c, reason: "restarted") }
        members.join(peer)
        _ = try transport.send(try Message(kind: .welcome, WelcomeFields(config: config)), to: peer)
        _ = try transport.send(weightsMessage(step: c.work.step, epoch: c.work.epoch), to: peer)
        log("worker \(peer) joined (\(hello.host), pid \(hello.pid), \(hello.threads) thread(s)); \(members.count) connected")
    }

    private func receiveGradients(_ m: Message, from peer: PeerID, _ c: inout Collection) {
        guard m.step == UInt64(c.work.step), members.contains(peer) else {
            return log("dropped stale gradients from \(peer) (step \(m.step), now \(c.work.step))")
        }
        guard let f = try? m.fields(GradientFields.self) else { return drop("gradients with malformed fields from \(peer)") }
        guard c.results[f.microBatch] == nil, members.assignment(of: peer) == f.microBatch else {
            return log("dropped duplicate or unrequested gradients from \(peer) for micro-batch \(f.microBatch)")
        }
        guard m.bulk.count == (f.hasStatistics ? 2 : 1), let g = m.bulk[0].floatArray(expected: store.parameters.count) else {
            return log("dropped gradients of the wrong size from \(peer)")
        }
        let statistics = f.hasStatistics ? m.bulk[1].floatArray(expected: store.statistics.count) : nil
        guard !f.hasStatistics || statistics != nil else { return log("dropped BN statistics of the wrong size from \(peer)") }
        guard let roundTrip = members.complete(f.microBatch, by: peer) else { return }
        for failure in f.failures { log("\(peer) skipped a sample: \(failure)") }
        var result = MicroBatchResult(index: f.microBatch, lossSum: f.lossSum, labelled: f.labelled, samples: f.samples,
                                      gradients: g, batchStatistics: statistics, failures: [])
        result.computeSeconds = f.computeSeconds
        c.results[f.microBatch] = result
        c.roundTrips += roundTrip
    }

    // MARK: Work

    /// Gives every idle worker the pending micro-batch whose samples it holds most of.
    private func dispatch(_ c: inout Collection) throws {
        for name in members.idle {
            guard let best = AffinityScheduler.choose(pending: c.pending, batches: c.work.microBatches,
                                                      holds: members.holds(name)) else { return }
            if try assign(best, of: c.work, to: name) {
                c.pending.removeAll { $0 == best }
            } else {
                forget(name, &c, reason: "unreachable")
            }
        }
    }

    /// Sends the samples the worker lacks, then the work. False when the worker is gone.
    private func assign(_ index: Int, of work: StepWork, to name: PeerID) throws -> Bool {
        let indices = work.microBatches[index]
        let held = members.holds(name)
        let missing = indices.filter { !held.contains($0) }
        if !missing.isEmpty {
            let records = missing.map { dataset.labels.records[$0] }
            let fields = ShardFields(indices: missing, keypoints: records.map(\.keypoints), visibility: records.map(\.visibility),
                                     paths: records.map(\.imagePath))
            let shard = try Message(kind: .shard, step: UInt64(work.step), fields, bulk: missing.map { .bytes(dataset.images[$0]) })
            guard try transport.send(shard, to: name) else { return false }
            members.sent(missing, to: name)
            shipped.images += missing.count
            shipped.bytes += missing.reduce(0) { $0 + dataset.images[$1].count }
        }
        let message = try Message(kind: .work, step: UInt64(work.step),
                                  WorkFields(epoch: work.epoch, microBatch: index, indices: indices))
        guard try transport.send(message, to: name) else { return false }
        members.assign(index, to: name)
        return true
    }

    // MARK: Liveness

    /// Finds dead workers: a heartbeat to each fails once ZeroMQ has seen its connection drop (at
    /// once for a killed process, after the heartbeat timeout for a vanished host); a worker that
    /// holds a micro-batch past the step deadline is dropped too. Their micro-batches are requeued.
    private func probe(_ c: inout Collection) throws {
        for name in members.names where try !transport.send(Message(kind: .heartbeat), to: name) {
            forget(name, &c, reason: "connection lost")
        }
        for name in members.overdue(deadline: options.stepDeadline) {
            forget(name, &c, reason: "no answer within \(Int(options.stepDeadline)) s")
        }
    }

    private func forget(_ name: PeerID, _ c: inout Collection, reason: String) {
        guard members.contains(name) else { return }
        let held = members.remove(name)
        if let held { c.pending.append(held) }
        log("worker \(name) removed (\(reason))" + (held.map { "; micro-batch \($0) goes to another worker" } ?? ""))
    }

    private func weightsMessage(step: Int, epoch: Int) throws -> Message {
        try Message(kind: .weights, step: UInt64(step), WeightsFields(epoch: epoch),
                    bulk: [.floats(store.parameters.base, count: store.parameters.count),
                           .floats(store.statistics.base, count: store.statistics.count)])
    }

    /// Sends every worker the weights for `step`: one snapshot, shared by all the sends.
    private func broadcastWeights(step: Int, epoch: Int) throws {
        let m = try weightsMessage(step: step, epoch: epoch)
        for name in members.names where try !transport.send(m, to: name) {
            members.remove(name)
            log("worker \(name) removed (unreachable)")
        }
    }
}
