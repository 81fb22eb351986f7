// The coordinator: owns the dataset, the weights, the optimizer and the checkpoints; hands
// micro-batches to whichever workers are alive, reduces their gradients in a fixed order, applies
// the step and broadcasts the new weights.
import Data
import Foundation
import Model

/// Where one step's time went, seconds. `compute` and `transfer` are per worker (summed over the
/// micro-batches, divided by the workers used); `update` is the coordinator's reduce + optimizer +
/// broadcast.
public struct StepTiming: Sendable {
    public var total: Double
    public var compute: Double
    public var transfer: Double
    public var update: Double
    public var samples: Int
    public var workers: Int

    public init(total: Double, compute: Double, transfer: Double, update: Double, samples: Int, workers: Int) {
        self.total = total; self.compute = compute; self.transfer = transfer; self.update = update
        self.samples = samples; self.workers = workers
    }
}

public final class Coordinator {
    public struct Options {
        /// Workers needed before the first step.
        public var minWorkers = 1
        /// A worker that has not answered a micro-batch within this many seconds is dropped and
        /// its micro-batch given to another.
        public var stepDeadline: Double = 600
        /// Stop after this global step (for tests and `--steps`); nil = all epochs.
        public var stopAfterStep: Int?
        /// Consecutive NaN/Inf steps (each skipped) after which training stops.
        public var maxBadSteps = 5
        /// A step waiting longer than this (seconds) logs which workers it waits for.
        public var stallWarning: Double = 30
        public init() {}
    }

    /// What the coordinator knows of one worker.
    private struct Peer {
        var name: String
        var has: Set<Int> = []
        var assigned: Int?
        var assignedAt = Date()
        var lastSeen = Date()
        var ready = false
    }

    public let trainer: Trainer
    public let config: RunConfig
    public let plan: StepPlan
    private let dataset: KeypointDataset
    private let transport: CoordinatorTransport
    private let options: Options
    private let log: (String) -> Void
    private var peers: [PeerID: Peer] = [:]
    /// Malformed messages dropped so far.
    public private(set) var dropped = 0
    private lazy var badSteps = BadStepGuard(limit: options.maxBadSteps)
    /// False until `minWorkers` workers are ready for the first time; no work is handed out before.
    /// Never reset: later steps go on with whoever is alive.
    private var started = false
    /// Image bytes sent to workers since the last epoch end (each sample goes to a worker once).
    private var shipped: (images: Int, bytes: Int) = (0, 0)
    /// Polled while a step waits for workers; when it returns true the step is abandoned (nothing of
    /// it applied) and `run` throws `Coordinator.Stopped`, so the caller can checkpoint the last
    /// completed step.
    public var stopRequested: (() -> Bool)?

    /// Thrown by `run` when `stopRequested` said so.
    public struct Stopped: Error {}

    /// Called after each applied step; progress, metrics, validation and checkpoints hang off it.
    public var afterStep: ((Int, Int, StepReport, StepTiming) throws -> Void)?

    public init(transport: CoordinatorTransport, dataset: KeypointDataset, config: RunConfig, trainer: Trainer,
                options: Options, log: @escaping (String) -> Void) {
        self.transport = transport
        self.dataset = dataset
        self.config = config
        self.trainer = trainer
        self.options = options
        self.log = log
        plan = StepPlan(samples: dataset.count, batchSize: config.training.batchSize, microBatch: config.microBatch,
                        seed: config.training.seed)
        transport.onDropped = { [weak self] peer, why in
            self?.dropped += 1
            log("dropped a malformed message from \(peer) (\(self?.dropped ?? 0) so far): \(why)")
        }
    }

    public var totalSteps: Int { config.training.epochs * plan.stepsPerEpoch }

    /// Trains from `trainer.step` to the end (or `stopAfterStep`), then tells workers to exit.
    public func run() throws {
        let last = min(totalSteps, options.stopAfterStep ?? totalSteps)
        while trainer.step < last {
            let step = trainer.step
            let (epoch, batches) = plan.microBatches(step: step)
            let stepStarted = Date()
            let (results, roundTrips) = try runStep(step: step, epoch: epoch, batches: batches)
            let updateStarted = Date()
            let applied = try badSteps.apply(results, to: trainer, epoch: epoch, log: log)
            if trainer.step < last { try broadcastWeights(step: trainer.step, epoch: trainer.step / plan.stepsPerEpoch) }
            guard let report = applied else { continue }
            let workers = max(1, min(peers.count, batches.count))
            let compute = results.reduce(0) { $0 + $1.computeSeconds }
            let timing = StepTiming(total: Date().timeIntervalSince(stepStarted), compute: compute / Double(workers),
                                    transfer: max(0, roundTrips - compute) / Double(workers),
                                    update: Date().timeIntervalSince(updateStarted),
                                    samples: results.reduce(0) { $0 + $1.samples }, workers: peers.count)
            try afterStep?(step, epoch, report, timing)
            if trainer.step % plan.stepsPerEpoch == 0 {
                log(String(format: "epoch %d: sent %d image(s) (%.1f MB) to workers", epoch + 1, shipped.images,
                           Double(shipped.bytes) / 1e6))
                shipped = (0, 0)
            }
        }
        for peer in peers.keys { _ = try? transport.send(try Message(kind: .bye, ReasonFields(reason: "training finished")), to: peer) }
    }

    /// Hands out the micro-batches of one step and collects every result exactly once.
    /// Also returns the summed round-trip seconds (work sent to gradients received) of the results.
    private func runStep(step: Int, epoch: Int, batches: [[Int]]) throws -> ([MicroBatchResult], Double) {
        var pending = Array(batches.indices)
        var roundTrips = 0.0
        let stepStarted = Date()
        var lastProbe = Date(), lastStall = Date()
        var results: [Int: MicroBatchResult] = [:]
        var lastWait = Date.distantPast
        for name in peers.keys { peers[name]!.assigned = nil }
        while results.count < batches.count {
            started = started || peers.values.filter(\.ready).count >= options.minWorkers
            // Hand out work to idle, ready workers: the micro-batch whose samples they hold most of.
            for name in peers.keys.sorted() where started && peers[name]!.ready && peers[name]!.assigned == nil && !pending.isEmpty {
                let best = pending.max { a, b in
                    batches[a].filter { peers[name]!.has.contains($0) }.count < batches[b].filter { peers[name]!.has.contains($0) }.count
                }!
                if try assign(best, indices: batches[best], step: step, epoch: epoch, to: name) {
                    pending.removeAll { $0 == best }
                } else {
                    forget(name, requeue: &pending, reason: "unreachable")
                }
            }
            if !started || peers.isEmpty {
                if Date().timeIntervalSince(lastWait) > 10 {
                    log("waiting for workers (\(peers.count) connected, \(options.minWorkers) needed) at step \(step)")
                    lastWait = Date()
                }
            }
            if stopRequested?() == true { throw Stopped() }
            if Date().timeIntervalSince(lastProbe) >= 1 {
                try probe(&pending)
                lastProbe = Date()
                if Date().timeIntervalSince(stepStarted) > options.stallWarning && Date().timeIntervalSince(lastStall) > options.stallWarning {
                    let waiting = peers.filter { $0.value.assigned != nil }.map { "\($0.key) (micro-batch \($0.value.assigned!))" }.sorted()
                    log("step \(step) has waited \(Int(Date().timeIntervalSince(stepStarted))) s; "
                        + (waiting.isEmpty ? "no worker is connected: start one with `keypoints worker --connect ...`"
                                           : "waiting for \(waiting.joined(separator: ", "))"))
                    lastStall = Date()
                }
            }
            guard let (peer, m) = try transport.receive(timeout: 500) else { continue }
            peers[peer]?.lastSeen = Date()
            switch m.kind {
            case .hello:
                guard (try? m.fields(HelloFields.self)) != nil else {
                    dropped += 1
                    log("dropped a malformed hello from \(peer)")
                    continue
                }
                try welcome(peer, m, step: step, epoch: epoch, requeue: &pending)
            case .gradients:
                guard m.step == UInt64(step), var p = peers[peer] else {
                    log("dropped stale gradients from \(peer) (step \(m.step), now \(step))")
                    continue
                }
                guard let f = try? m.fields(GradientFields.self) else {
                    dropped += 1
                    log("dropped gradients with malformed fields from \(peer)")
                    continue
                }
                guard p.assigned == f.microBatch, results[f.microBatch] == nil else {
                    log("dropped duplicate or unrequested gradients from \(peer) for micro-batch \(f.microBatch)")
                    continue
                }
                let store = trainer.network.store
                guard let g = m.bulk.first?.floatArray(expected: store.parameters.count),
                      !f.hasStatistics || m.bulk.count == 2,
                      let stats: [Float]? = f.hasStatistics ? m.bulk[1].floatArray(expected: store.statistics.count) : .some(nil),
                      !(f.hasStatistics && stats == nil) else {
                    log("dropped gradients of the wrong size from \(peer)")
                    continue
                }
                for failure in f.failures { log("\(peer) skipped a sample: \(failure)") }
                var result = MicroBatchResult(index: f.microBatch, lossSum: f.lossSum, labelled: f.labelled,
                                              samples: f.samples, gradients: g, batchStatistics: stats, failures: f.failures)
                result.computeSeconds = f.computeSeconds
                results[f.microBatch] = result
                roundTrips += Date().timeIntervalSince(p.assignedAt)
                p.assigned = nil
                peers[peer] = p
            case .bye:
                forget(peer, requeue: &pending, reason: "left")
            case .heartbeat:
                continue
            default:
                log("ignored \(m.summary) from \(peer)")
            }
        }
        return (batches.indices.map { results[$0]! }, roundTrips)
    }

    /// Answers a hello: configuration and current weights. A known name that says hello again
    /// restarted, so it is treated as new (its samples are sent again as needed).
    private func welcome(_ peer: PeerID, _ m: Message, step: Int, epoch: Int, requeue pending: inout [Int]) throws {
        let hello = try m.fields(HelloFields.self)
        if peers[peer] != nil { forget(peer, requeue: &pending, reason: "restarted") }
        peers[peer] = Peer(name: peer)
        _ = try transport.send(try Message(kind: .welcome, WelcomeFields(config: config)), to: peer)
        _ = try transport.send(weightsMessage(step: step, epoch: epoch), to: peer)
        peers[peer]!.ready = true
        log("worker \(peer) joined (\(hello.host), pid \(hello.pid), \(hello.threads) thread(s)); \(peers.count) connected")
    }

    private func weightsMessage(step: Int, epoch: Int) throws -> Message {
        let store = trainer.network.store
        return try Message(kind: .weights, step: UInt64(step), WeightsFields(epoch: epoch),
                           bulk: [.floats(store.parameters.base, count: store.parameters.count),
                                  .floats(store.statistics.base, count: store.statistics.count)])
    }

    /// Sends the samples the worker lacks, then the work. False when the worker is gone.
    private func assign(_ index: Int, indices: [Int], step: Int, epoch: Int, to name: PeerID) throws -> Bool {
        let missing = indices.filter { !peers[name]!.has.contains($0) }
        if !missing.isEmpty {
            let records = missing.map { dataset.labels.records[$0] }
            let fields = ShardFields(indices: missing, keypoints: records.map(\.keypoints), visibility: records.map(\.visibility),
                                     paths: records.map(\.imagePath))
            guard try transport.send(try Message(kind: .shard, step: UInt64(step), fields,
                                                 bulk: missing.map { .bytes(dataset.images[$0]) }), to: name) else { return false }
            peers[name]!.has.formUnion(missing)
            shipped.images += missing.count
            shipped.bytes += missing.reduce(0) { $0 + dataset.images[$1].count }
        }
        let work = WorkFields(epoch: epoch, microBatch: index, indices: indices)
        guard try transport.send(try Message(kind: .work, step: UInt64(step), work), to: name) else { return false }
        peers[name]!.assigned = index
        peers[name]!.assignedAt = Date()
        return true
    }

    /// Finds dead workers: a heartbeat to each fails once ZeroMQ has seen its connection drop (at
    /// once for a killed process, after the heartbeat timeout for a vanished host); a worker that
    /// holds a micro-batch past the step deadline is dropped too. Their micro-batches are requeued.
    private func probe(_ pending: inout [Int]) throws {
        for name in peers.keys.sorted() {
            if try !transport.send(Message(kind: .heartbeat), to: name) {
                forget(name, requeue: &pending, reason: "connection lost")
            } else if let p = peers[name], p.assigned != nil, Date().timeIntervalSince(p.assignedAt) > options.stepDeadline {
                forget(name, requeue: &pending, reason: "no answer within \(Int(options.stepDeadline)) s")
            }
        }
    }

    private func forget(_ name: PeerID, requeue pending: inout [Int], reason: String) {
        guard let p = peers.removeValue(forKey: name) else { return }
        if let mb = p.assigned { pending.append(mb) }
        log("worker \(name) removed (\(reason))" + (p.assigned.map { "; micro-batch \($0) goes to another worker" } ?? ""))
    }

    /// Sends every ready worker the weights for `step` (after each optimizer step): one snapshot,
    /// shared by all the sends.
    public func broadcastWeights(step: Int, epoch: Int) throws {
        let m = try weightsMessage(step: step, epoch: epoch)
        for name in peers.keys {
            if try !transport.send(m, to: name) { var none: [Int] = []; forget(name, requeue: &none, reason: "unreachable") }
        }
    }
}
