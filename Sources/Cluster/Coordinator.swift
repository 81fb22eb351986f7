// The coordinator as a gradient source: hands each step's micro-batches to whichever workers are
// alive (ShardFields first for samples they lack), up to two per worker so that none waits for its
// next one, collects every result exactly once (gradients arrive bucket by bucket, GradientAssembly.swift),
// hands out the next step's micro-batches before the engine's update (workers decode them meanwhile),
// and after the update broadcasts the new weights bucket by bucket. The engine (Training) does the reduction and the
// optimizer, exactly as in one process. It never waits on a peer: sends do not block, a peer that
// stops reading or answering is dropped and its work requeued, and what a peer reports is checked
// against what it was given.
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
        /// Workers admitted at most; further hellos are refused with the reason.
        public var maxWorkers = 256
        /// Once `deadlineSamples` micro-batches have come back, a worker holding one longer than
        /// `slowFactor` times their median round trip (but at least `minimumDeadline` seconds) is
        /// dropped as if past `stepDeadline`: a stalled or stalling peer costs a bounded delay.
        public var slowFactor = 10.0
        public var minimumDeadline = 30.0
        public var deadlineSamples = 8
        /// Micro-batches a worker holds at most: one it computes, the next it decodes meanwhile
        /// (the next step's, once this step's are all handed out).
        public var outstanding = 2
        /// Bytes of wire frame per bucket of the weights and of the gradients (``ParameterBuckets``),
        /// told to every worker in its welcome: the weights go out bucket by bucket, and a worker
        /// sends each bucket of its gradient as soon as backward has computed it.
        public var bucketBytes = ParameterBuckets.defaultBytes
        public init() {}
    }

    private let transport: CoordinatorTransport
    private let dataset: KeypointDataset
    private let config: RunConfig
    /// The engine's network: the weights every worker computes with.
    private let store: ParameterStore
    private let plan: StepPlan
    private var stepsPerEpoch: Int { plan.stepsPerEpoch }
    /// Weights out and gradients in, at the run's wire precision.
    private let wire: WireFloats
    /// How weights and gradients are cut into buckets (``ParameterBuckets``).
    private let buckets: ParameterBuckets
    /// Workers' gradient buckets of this step, until each micro-batch's gradients message completes it.
    private var assembly: GradientAssembly
    private let options: Options
    private let log: (String) -> Void
    private var members = Membership()
    private var conduct = PeerConduct()
    /// The latest micro-batch round trips, seconds (for the adaptive deadline).
    private var roundTrips: [Double] = []
    /// The weights messages for the current step, one per bucket: one snapshot, shared by every send of it.
    private var weights: (step: Int, messages: [Message])?
    /// When each unknown peer was last asked to rejoin.
    private var rejoinAsked: [PeerID: Date] = [:]
    /// Drops, logged one by one for the first 20, then summarised every 10 s.
    private var drops = LogThrottle(first: 20)
    /// Malformed or refused messages dropped so far.
    public var dropped: Int { drops.total }
    /// False until `minWorkers` workers joined for the first time; no work is handed out before.
    /// Never reset: later steps go on with whoever is alive.
    private var started = false
    /// Messages of muted peers already reported in an epoch line.
    private var discardedLogged = 0
    /// Image bytes sent to workers since the last epoch end (each sample goes to a worker once).
    private var shipped: (images: Int, bytes: Int) = (0, 0)

    /// The step being collected: its work, what is not handed out yet, and what came back.
    private struct Collection {
        var work: StepWork
        var pending: [Int]
        var results: [Int: MicroBatchResult] = [:]
        var roundTrips = 0.0
        /// Micro-batches of this step taken from a removed worker.
        var requeued: Set<Int> = []
    }
    /// Micro-batches requeued since the start.
    private var reassigned = 0
    /// Hears the workers and counters after each step and each join or departure (the status page).
    public var onStatus: ((ClusterStatus) -> Void)?
    private var current: Collection?
    /// The next step's micro-batches, handed out before the engine's update of this one.
    private var ahead: Collection?

    public init(transport: CoordinatorTransport, dataset: KeypointDataset, config: RunConfig, network: KeypointNetwork,
                options: Options, log: @escaping (String) -> Void) {
        self.transport = transport
        self.dataset = dataset
        self.config = config
        self.store = network.store
        self.plan = StepPlan(samples: dataset.count, config: config)
        self.wire = WireFloats(precision: config.wirePrecision, layout: network.store.layout)
        buckets = ParameterBuckets(wire: wire, bytes: options.bucketBytes)
        assembly = GradientAssembly(wire: wire, buckets: buckets)
        self.options = options
        self.log = log
        transport.limits = .coordinator(for: store, wire: wire, buckets: buckets)
        transport.onDropped = { [weak self] peer, why in self?.malformed(from: peer, "a malformed message from \(peer): \(why)") }
    }

    /// Counts a dropped message; logs the first 20, then one summary every 10 s.
    private func drop(_ what: String) {
        switch drops.record() {
        case .event?: log("dropped \(what) (\(dropped) so far)")
        case .summary(let count, let seconds)?:
            log("dropped \(count) more message(s) in the last \(seconds) s (\(dropped) so far); latest: \(what)")
        case nil: break
        }
    }

    /// Counts a malformed or inconsistent message; a peer that sends too many is removed and muted.
    private func malformed(from peer: PeerID, _ what: String) {
        drop(what)
        guard conduct.malformedMessage(from: peer) else { return }
        mute(peer, "more than \(conduct.malformedAllowed) malformed messages in \(Int(conduct.window)) s")
    }

    /// Removes `peer` if it is a worker, and discards its messages unread for a while.
    private func mute(_ peer: PeerID, _ why: String) {
        forget(peer, reason: why)
        conduct.mute(peer)
        transport.muted = conduct.muted()
        log("muted \(peer) for \(Int(conduct.muteSeconds)) s: \(why)")
    }

    // MARK: GradientSource

    public func gradients(for work: StepWork, shouldStop: () -> Bool) throws -> SourcedGradients {
        if let a = ahead, a.work == work {
            current = a
            members.keepAssignments(of: work.step)
            members.restartClocks()
        } else {
            current = Collection(work: work, pending: Array(work.microBatches.indices))
            members.clearAssignments()
        }
        ahead = nil
        defer { current = nil; assembly.reset() }
        let stepStarted = Date()
        var lastProbe = Date(), lastStall = Date(), lastWait = Date.distantPast
        while let c = current, c.results.count < work.microBatches.count {
            started = started || members.count >= options.minWorkers
            if started { try dispatch(); try handOutAhead(step: work.step + 1) }
            if (!started || members.count == 0) && Date().timeIntervalSince(lastWait) > 10 {
                log("waiting for workers (\(members.count) connected, \(options.minWorkers) needed) at step \(work.step)")
                lastWait = Date()
            }
            if shouldStop() { throw TrainingStopped() }
            if Date().timeIntervalSince(lastProbe) >= 1 {
                try probe()
                lastProbe = Date()
                let waited = Date().timeIntervalSince(stepStarted)
                if waited > options.stallWarning && Date().timeIntervalSince(lastStall) > options.stallWarning {
                    let busy = members.busy
                    let state: String
                    if members.count == 0 {
                        state = "no worker is connected: start one with `keypoints worker --connect ...`"
                    } else if busy.isEmpty {
                        state = "\(members.count) worker(s) connected, none computing" + (started ? "" : " (\(options.minWorkers) needed to start)")
                    } else {
                        state = "waiting for \(busy.joined(separator: ", "))"
                    }
                    log("step \(work.step) has waited \(Int(waited)) s; \(state)")
                    lastStall = Date()
                }
            }
            if let (peer, m) = try transport.receive(timeout: 500) { try handle(m, from: peer) }
        }
        let c = current!
        publish()
        let results = work.microBatches.indices.compactMap { c.results[$0] }
        let sourced = SourcedGradients(results: results, roundTripSeconds: c.roundTrips, workers: members.count)
        if started { try handOutAhead(step: work.step + 1) }
        return sourced
    }

    public func stepDone(stepsDone: Int, more: Bool) throws {
        if more { try broadcastWeights(step: stepsDone, epoch: stepsDone / stepsPerEpoch) }
        if stepsDone % stepsPerEpoch == 0 {
            let muted = transport.discardedFromMuted - discardedLogged
            log(String(format: "epoch %d: sent %d image(s) (%.1f MB) to workers", stepsDone / stepsPerEpoch, shipped.images,
                       Double(shipped.bytes) / 1e6)
                + (muted > 0 ? "; discarded \(muted) message(s) of muted peers unread" : ""))
            discardedLogged = transport.discardedFromMuted
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

    private func handle(_ m: Message, from peer: PeerID) throws {
        members.seen(peer)
        switch m.kind {
        case .hello:
            guard let hello = try? m.fields(HelloFields.self) else { return malformed(from: peer, "a malformed hello from \(peer)") }
            if conduct.hello(from: peer) {
                return mute(peer, "more than \(conduct.hellosAllowed) hellos in \(Int(conduct.window)) s")
            }
            try welcome(peer, hello)
        case .gradients:
            receiveGradients(m, from: peer)
        case .gradientBucket:
            receiveBucket(m, from: peer)
        case .bye:
            let why = (try? m.fields(ReasonFields.self).reason).map { ": \($0.prefix(300))" } ?? ""
            forget(peer, reason: "left\(why)")
        case .heartbeat:
            if !members.contains(peer) { try askToRejoin(peer) }
        default:
            malformed(from: peer, "\(m.summary) from \(peer), which workers never send")
        }
    }

    /// Answers a heartbeat from a peer this coordinator does not know (it restarted, or removed
    /// that worker) with `rejoin`, at most once every 2 s per peer.
    private func askToRejoin(_ peer: PeerID) throws {
        if let last = rejoinAsked[peer], Date().timeIntervalSince(last) < 2 { return }
        if rejoinAsked.count >= 4096 { rejoinAsked = rejoinAsked.filter { Date().timeIntervalSince($0.value) < 2 } }
        rejoinAsked[peer] = Date()
        _ = try transport.send(Message(kind: .rejoin), to: peer)
    }

    /// Answers a hello with the configuration and the current weights. A known name that says
    /// hello again restarted: it is treated as new (its samples are sent again as needed).
    private func welcome(_ peer: PeerID, _ hello: HelloFields) throws {
        if members.contains(peer) { forget(peer, reason: "restarted") }
        guard members.count < options.maxWorkers else {
            _ = try transport.send(try Message(kind: .refused, ReasonFields(
                reason: "the coordinator has its maximum of \(options.maxWorkers) workers (--max-workers)")), to: peer)
            return drop("a hello from \(peer): already \(options.maxWorkers) workers")
        }
        guard let c = current else { return }
        let weights = try weightsMessages(step: c.work.step, epoch: c.work.epoch)
        for message in [try Message(kind: .welcome, WelcomeFields(config: config, bucketBytes: options.bucketBytes))] + weights {
            let delivery = try transport.send(message, to: peer)
            guard delivery == .sent else { return log("could not welcome \(peer): \(delivery)") }
        }
        members.join(peer, hello: hello)
        publish()
        log("worker \(peer) joined (\(hello.host.prefix(64)), pid \(hello.pid), \(hello.threads) thread(s)); \(members.count) connected")
    }

    private func receiveGradients(_ m: Message, from peer: PeerID) {
        guard let c = current, m.step == UInt64(c.work.step), members.contains(peer) else {
            return log("dropped stale gradients from \(peer) (step \(m.step), now \(current?.work.step ?? -1))")
        }
        guard let f = try? m.fields(GradientFields.self) else { return malformed(from: peer, "gradients with malformed fields from \(peer)") }
        guard c.results[f.microBatch] == nil, members.assignments(of: peer, step: c.work.step).contains(f.microBatch) else {
            return log("dropped duplicate or unrequested gradients from \(peer) for micro-batch \(f.microBatch)")
        }
        if let wrong = inconsistency(f, assigned: c.work.microBatches[f.microBatch]) {
            return malformed(from: peer, "gradients from \(peer) for micro-batch \(f.microBatch): \(wrong)")
        }
        // The transport's limits admit only these frame sizes; the guards keep a wrong one harmless.
        guard m.bulk.count == (f.hasStatistics ? 2 : 1) else { return malformed(from: peer, "gradients of the wrong size from \(peer)") }
        let g: [Float]
        switch assembly.complete(f.microBatch, from: peer, bucketZero: m.bulk[0]) {
        case .success(let values): g = values
        case .failure(let why): return malformed(from: peer, "gradients from \(peer) for micro-batch \(f.microBatch) \(why)")
        }
        let statistics = f.hasStatistics ? m.bulk[1].floatArray(expected: store.statistics.count) : nil
        guard !f.hasStatistics || statistics != nil else { return malformed(from: peer, "BN statistics of the wrong size from \(peer)") }
        guard let roundTrip = members.complete(f.microBatch, step: c.work.step, by: peer) else { return }
        for failure in f.failures { log("\(peer) skipped a sample: \(failure.prefix(300))") }
        var result = MicroBatchResult(index: f.microBatch, lossSum: f.lossSum, labelled: f.labelled, samples: f.samples,
                                      gradients: g, batchStatistics: statistics, failures: [])
        result.computeSeconds = f.computeSeconds
        members.counted(peer, samples: f.samples, computeSeconds: f.computeSeconds,
                        tookOver: current?.requeued.contains(f.microBatch) ?? false)
        current?.results[f.microBatch] = result
        current?.roundTrips += roundTrip
        roundTrips.append(roundTrip)
        if roundTrips.count > 64 { roundTrips.removeFirst() }
    }

    /// Keeps one gradient bucket of a micro-batch this worker holds in this step. Buckets of
    /// another step are dropped without a word (the gradients message that follows them is logged).
    private func receiveBucket(_ m: Message, from peer: PeerID) {
        guard let c = current, m.step == UInt64(c.work.step), members.contains(peer) else { return }
        guard let f = try? m.fields(GradientBucketFields.self), m.bulk.count == 1 else {
            return malformed(from: peer, "a gradient bucket with malformed fields from \(peer)")
        }
        guard c.results[f.microBatch] == nil, members.assignments(of: peer, step: c.work.step).contains(f.microBatch) else {
            return log("dropped a duplicate or unrequested gradient bucket from \(peer) for micro-batch \(f.microBatch)")
        }
        if let wrong = assembly.add(bucket: f.bucket, of: f.microBatch, from: peer, frame: m.bulk[0]) {
            malformed(from: peer, "a gradient bucket from \(peer) for micro-batch \(f.microBatch): \(wrong)")
        }
    }

    /// What is wrong with a worker's counts for the micro-batch of `assigned` dataset indices, or
    /// nil: every sample is computed or reported skipped, the labelled coordinates are a whole
    /// number within 0...2K per computed sample, the loss is not negative, the time not negative.
    private func inconsistency(_ f: GradientFields, assigned: [Int]) -> String? {
        guard f.samples >= 0, f.samples + f.failures.count == assigned.count else {
            return "\(f.samples) computed and \(f.failures.count) skipped of \(assigned.count) samples"
        }
        let most = Float(2 * config.model.keypoints * f.samples)
        guard f.labelled >= 0, f.labelled <= most, f.labelled.rounded() == f.labelled else {
            return "\(f.labelled) labelled coordinates for \(f.samples) samples of \(config.model.keypoints) keypoints"
        }
        // A NaN or infinite loss is a diverged step, for the engine's bad-step guard to skip.
        guard !(f.lossSum < 0), f.labelled > 0 || f.lossSum == 0 || !f.lossSum.isFinite else {
            return "loss \(f.lossSum) for \(f.labelled) labelled coordinates"
        }
        guard f.computeSeconds >= 0, f.computeSeconds.isFinite else { return "compute time \(f.computeSeconds) s" }
        return nil
    }

    // MARK: Work

    /// Gives every worker with room a pending micro-batch of `collection`, the one whose samples it
    /// holds most of: first one to each worker that holds none, then a second to each that holds
    /// one, and so on up to `outstanding`, so that work spreads over all workers before any gets a second.
    /// For this step only its own micro-batches count: work of the next step handed out ahead never
    /// keeps a worker from taking one of this step requeued from a worker that left (the next step
    /// cannot start before this one ends). For the next step, all of them count.
    private func dispatch(_ collection: ReferenceWritableKeyPath<Coordinator, Collection?> = \.current) throws {
        let counted = collection == \Coordinator.current ? self[keyPath: collection]?.work.step : nil
        for level in 0..<max(1, options.outstanding) {
            for name in members.holding(level, of: counted) {
                guard let c = self[keyPath: collection],
                      let best = AffinityScheduler.choose(pending: c.pending, batches: c.work.microBatches,
                                                          holds: members.holds(name)) else { return }
                let delivery = try assign(best, of: c.work, to: name)
                if delivery == .sent {
                    self[keyPath: collection]?.pending.removeAll { $0 == best }
                } else {
                    drop(name, delivery)
                }
            }
        }
    }

    /// Hands out the micro-batches of the step after this one, whose work is known before this
    /// step's update is, once every micro-batch of this step is handed out: workers with room
    /// decode and augment them while they compute this step's and while the coordinator reduces,
    /// updates and broadcasts, and start computing the moment the new weights arrive. Kept for the
    /// next `gradients(for:)`, which starts over if its work is not this one (the run ended first).
    private func handOutAhead(step: Int) throws {
        guard options.outstanding > 1, current?.pending.isEmpty ?? true else { return }
        if ahead?.work.step != step {
            let next = plan.work(step: step)
            guard !next.microBatches.isEmpty else { return }
            ahead = Collection(work: next, pending: Array(next.microBatches.indices))
        }
        guard !(ahead?.pending.isEmpty ?? true) else { return }
        try dispatch(\.ahead)
    }

    /// Sends the samples the worker lacks, then the work.
    private func assign(_ index: Int, of work: StepWork, to name: PeerID) throws -> Delivery {
        let indices = work.microBatches[index]
        let held = members.holds(name)
        let missing = indices.filter { !held.contains($0) }
        if !missing.isEmpty {
            let records = missing.map { dataset.labels.records[$0] }
            let fields = ShardFields(indices: missing, keypoints: records.map(\.keypoints), visibility: records.map(\.visibility),
                                     paths: records.map(\.imagePath))
            let shard = try Message(kind: .shard, step: UInt64(work.step), fields, bulk: missing.map { .bytes(dataset.images[$0]) })
            let delivery = try transport.send(shard, to: name)
            guard delivery == .sent else { return delivery }
            members.sent(missing, to: name)
            shipped.images += missing.count
            shipped.bytes += missing.reduce(0) { $0 + dataset.images[$1].count }
        }
        let message = try Message(kind: .work, step: UInt64(work.step),
                                  WorkFields(epoch: work.epoch, microBatch: index, indices: indices))
        let delivery = try transport.send(message, to: name)
        if delivery == .sent { members.assign(index, step: work.step, to: name) }
        return delivery
    }

    // MARK: Liveness

    /// Finds dead and stuck workers: a heartbeat to each fails once ZeroMQ has seen its connection
    /// drop (at once for a killed process, after the heartbeat timeout for a vanished host), or
    /// finds its queue full when it stops reading; a worker that holds a micro-batch past the
    /// deadline is dropped too. Their micro-batches are requeued.
    private func probe() throws {
        for name in members.names {
            let delivery = try transport.send(Message(kind: .heartbeat), to: name)
            if delivery != .sent { drop(name, delivery) }
        }
        let deadline = effectiveDeadline
        for name in members.overdue(deadline: deadline, step: current?.work.step ?? -1) {
            mute(name, "no answer within \(Int(deadline)) s")
        }
        transport.muted = conduct.muted()
    }

    /// `stepDeadline`, or less once enough round trips are known: `slowFactor` times their median,
    /// at least `minimumDeadline`.
    private var effectiveDeadline: Double {
        guard roundTrips.count >= options.deadlineSamples else { return options.stepDeadline }
        let median = roundTrips.sorted()[roundTrips.count / 2]
        return min(options.stepDeadline, max(options.minimumDeadline, options.slowFactor * median))
    }

    /// Removes a worker a send could not reach; one that stopped reading is muted for a while.
    private func drop(_ name: PeerID, _ delivery: Delivery) {
        if delivery == .backlogged {
            mute(name, "not reading (its send queue is full)")
        } else {
            forget(name, reason: "connection lost")
        }
    }

    private func forget(_ name: PeerID, reason: String) {
        guard members.contains(name) else { return }
        assembly.forget(name)
        let assigned = members.remove(name)
        // What it held of this step goes back to this step; of the next (handed out ahead, and all
        // it holds between steps, as when a weights broadcast fails), back to the next.
        var held: [Int] = []
        for a in assigned {
            if a.step == current?.work.step {
                current?.pending.append(a.microBatch)
                current?.requeued.insert(a.microBatch)
            } else if a.step == ahead?.work.step {
                ahead?.pending.append(a.microBatch)
                ahead?.requeued.insert(a.microBatch)
            } else {
                continue
            }
            held.append(a.microBatch)
        }
        reassigned += held.count
        publish()
        let moved = held.map(String.init).joined(separator: ", ")
        log("worker \(name) removed (\(reason))"
            + (held.isEmpty ? "" : "; micro-batch\(held.count > 1 ? "es" : "") \(moved) \(held.count > 1 ? "go" : "goes") to other workers"))
    }

    /// Tells `onStatus` the workers and counters as they are now.
    private func publish() {
        onStatus?(ClusterStatus(workers: members.statuses, microBatchesReassigned: reassigned, messagesDropped: dropped))
    }

    /// The weights for `step`, one message per bucket (bucket 0 with the BN statistics), made once
    /// per step and shared by every send (hellos included).
    private func weightsMessages(step: Int, epoch: Int) throws -> [Message] {
        if let w = weights, w.step == step { return w.messages }
        let statistics = Frame.floats(store.statistics.base, count: store.statistics.count)
        let messages = try buckets.tensors.enumerated().map { b, tensors in
            try Message(kind: .weights, step: UInt64(step), WeightsFields(epoch: epoch, bucket: b),
                        bulk: [wire.frame(store.parameters.base, tensors: tensors)] + (b == 0 ? [statistics] : []))
        }
        weights = (step, messages)
        return messages
    }

    /// Sends every worker the weights for `step`: one snapshot, shared by all the sends, bucket by
    /// bucket to all workers (each gets bucket 0, which its forward starts on, before anyone gets bucket 1).
    private func broadcastWeights(step: Int, epoch: Int) throws {
        for m in try weightsMessages(step: step, epoch: epoch) {
            for name in members.names {
                let delivery = try transport.send(m, to: name)
                if delivery != .sent { drop(name, delivery) }
            }
        }
    }
}
