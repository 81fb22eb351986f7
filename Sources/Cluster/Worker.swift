// A worker process: joins a coordinator, keeps the samples it is sent, and answers each work
// message with the gradients of that micro-batch, decoding the next one while it computes, taking
// weights and sending gradients in buckets while the network computes (WorkPipeline.swift). It
// needs no access to the dataset files. It
// checks everything it receives as the coordinator does: a malformed message is logged and dropped,
// and what it cannot work with is reported to the coordinator before the worker leaves.
import Compute
import Data
import Foundation
import Model
import Training

public final class Worker {
    private let transport: WorkerTransport
    private let hello: HelloFields
    private let log: (String) -> Void
    /// The run's compute, samples and renderer; made anew when a welcome brings another configuration.
    private var computer: MicroBatchComputer?
    private var samples = SampleStore()
    /// Decodes and computes the micro-batches in flight; made anew with each welcome.
    private var pipeline: WorkPipeline?
    /// Weights and gradients at the run's wire precision.
    private var wire: WireFloats?
    /// How weights and gradients are cut into buckets (from the welcome's bucket size).
    private var buckets: ParameterBuckets?
    /// The step of the latest weights whose bucket 0 came (the pipeline adopts them when it is free).
    private var weightsStep: UInt64?
    /// Seconds without any message after which the worker sends a heartbeat. A coordinator that
    /// does not know this worker (it restarted) answers with `rejoin`; silence alone never makes
    /// the worker say hello again, because a coordinator that validates or checkpoints is busy,
    /// not gone.
    public var heartbeatInterval: Double = 2
    /// Seconds without a word from the coordinator after which the worker gives up and exits with
    /// an error (0: never). A coordinator sends heartbeats every second while a step runs, so only a
    /// long validation or a coordinator that is gone is silent; torchrun's rendezvous waits 900 s too.
    public var giveUpAfter: Double = 900
    /// Seconds without a welcome after the first hello before the worker says what may be wrong.
    public var welcomeHint: Double = 30
    /// Benchmark mode: feed each micro-batch size's first decoded batch from memory to every later
    /// job (see `WorkPipeline`); the gradients then mean nothing, the speed is the compute's and the wire's.
    public var inMemoryInputs = false
    /// Hellos sent (the first, then one per rejoin).
    public private(set) var hellos = 0
    private var lastHello = Date.distantPast

    public init(transport: WorkerTransport, hello: HelloFields, log: @escaping (String) -> Void) {
        self.transport = transport
        self.hello = hello
        self.log = log
    }

    /// A reason the worker cannot go on; sent to the coordinator in a `bye` before it is thrown.
    private struct Leaving: Error { var reason: String }

    /// Runs until the coordinator says bye (returns), refuses this worker, or sends what this
    /// worker cannot work with (throws, after telling the coordinator why).
    public func run() throws {
        do { try loop() } catch let leaving as Leaving {
            try? transport.send(try Message(kind: .bye, ReasonFields(reason: leaving.reason)))
            throw ClusterError(leaving.reason)
        } catch let refused as Refused {
            throw ClusterError(refused.reason)
        } catch {
            // Anything else that ends the worker (a compute error, a failed send) is reported too.
            try? transport.send(try Message(kind: .bye, ReasonFields(reason: "\(hello.name) failed: \(error)")))
            throw error
        }
    }

    /// The coordinator refused this worker (no bye: it already knows).
    private struct Refused: Error { var reason: String }

    private func sayHello() throws {
        guard Date().timeIntervalSince(lastHello) >= 1 else { return }
        hellos += 1  // counted before the send, so that whoever receives it sees the count
        lastHello = Date()
        try transport.send(try Message(kind: .hello, hello))
    }

    private func loop() throws {
        try sayHello()
        var lastSent = Date(), lastHeard = Date(), hinted = false
        let started = Date()
        while true {
            if try sendOutcomes() { lastSent = Date() }
            let message: Message?
            // While micro-batches are in flight, look for their results every 2 ms.
            do { message = try transport.receive(timeout: pipeline?.busy == true ? 2 : 500) } catch {
                log("dropped a malformed message from the coordinator: \(error)")
                lastHeard = Date()
                continue
            }
            if message != nil { lastHeard = Date() }
            let silent = Date().timeIntervalSince(lastHeard)
            if giveUpAfter > 0 && silent > giveUpAfter {
                throw ClusterError("heard nothing from the coordinator for \(Int(silent)) s: giving up (worker --give-up-after; 0 waits forever)")
            }
            if computer == nil && !hinted && Date().timeIntervalSince(started) > welcomeHint {
                hinted = true
                log("no welcome from the coordinator after \(Int(welcomeHint)) s: check --connect and the keys, and that the "
                    + "coordinator is up; a worker whose --name another connected worker already uses is never admitted")
            }
            guard let m = message else {
                if Date().timeIntervalSince(lastSent) >= heartbeatInterval {
                    try transport.send(Message(kind: .heartbeat, step: weightsStep ?? 0))
                    lastSent = Date()
                }
                continue
            }
            do {
                if try handle(m) { return }
            } catch let e as MalformedInput {
                log("dropped \(m.summary) from the coordinator: \(e.reason)")
            }
            lastSent = Date()
        }
    }

    /// A message that is dropped (logged) without ending the worker.
    private struct MalformedInput: Error { var reason: String }

    private func fields<M: Decodable>(_ m: Message, _ type: M.Type) throws -> M {
        do { return try m.fields(type) } catch { throw MalformedInput(reason: "\(error)") }
    }

    /// Handles one message; true when training is over.
    private func handle(_ m: Message) throws -> Bool {
        switch m.kind {
        case .welcome:
            let welcome = try fields(m, WelcomeFields.self)
            try join(welcome.config, bucketBytes: welcome.bucketBytes)
        case .rejoin:
            log("the coordinator does not know this worker (it restarted): saying hello again")
            try sayHello()
        case .shard:
            guard let computer else { throw MalformedInput(reason: "a shard before the welcome") }
            try keep(fields(m, ShardFields.self), images: m.bulk, keypoints: computer.config.model.keypoints)
        case .weights:
            guard let computer, let buckets, let pipeline else { throw MalformedInput(reason: "weights before the welcome") }
            let b = try fields(m, WeightsFields.self).bucket
            guard (0..<buckets.count).contains(b), m.bulk.count == (b == 0 ? 2 : 1) else {
                throw MalformedInput(reason: "weights bucket \(b) with \(m.bulk.count) frame(s), of \(buckets.count) bucket(s)")
            }
            let statistics = b == 0 ? m.bulk[1].floatArray(expected: computer.network.store.statistics.count) : nil
            guard b != 0 || statistics != nil else { throw MalformedInput(reason: "BN statistics of the wrong size") }
            if let wrong = pipeline.setWeights(step: m.step, bucket: b, frame: m.bulk[0], statistics: statistics) {
                throw MalformedInput(reason: wrong)
            }
            if b == 0 { weightsStep = m.step }
        case .work:
            try compute(m, fields(m, WorkFields.self))
        case .heartbeat:
            break  // the coordinator checking that this worker's connection is alive
        case .bye:
            log("coordinator says training is over")
            return true
        case .refused:
            throw Refused(reason: "coordinator refused this worker: \((try? m.fields(ReasonFields.self).reason) ?? "no reason given")")
        default:
            throw MalformedInput(reason: "workers are never sent \(m.kind)")
        }
        return false
    }

    /// Builds the model and loader of the welcome's configuration (unless it is the one held), and
    /// a new pipeline that takes weights and sends gradients in buckets of `bucketBytes` (bytes of
    /// wire frame): what was in flight belonged to the coordinator's previous life.
    private func join(_ config: RunConfig, bucketBytes: Int) throws {
        if let wrong = Self.inconsistency(config) { throw Leaving(reason: "the coordinator's run configuration \(wrong)") }
        guard bucketBytes >= 1 else { throw Leaving(reason: "the coordinator's welcome asks for buckets of \(bucketBytes) bytes") }
        pipeline?.drain()
        pipeline = nil
        if computer?.config != config {
            do { computer = try MicroBatchComputer(config: config) } catch {
                throw Leaving(reason: "cannot build the coordinator's model: \(error)")
            }
            samples = SampleStore()
            wire = WireFloats(precision: config.wirePrecision, layout: computer!.network.store.layout)
            log("joined: MobileNetV1 alpha \(config.model.backbone.alpha) \(config.model.backbone.inputSize)px, "
                + "micro-batch \(config.microBatch), \(config.computePrecision) convolutions, \(config.wirePrecision) on the wire; oneDNN \(Engine.instructionSet) kernels, "
                + "activations \(Layout.blocked)")
        }
        let loader = BatchLoader(source: samples.source, renderer: config.renderer, augmentation: config.augmentation,
                                 seed: config.training.seed, threads: 1)
        buckets = ParameterBuckets(wire: wire!, bytes: bucketBytes)
        transport.limits = .worker(for: computer!.network.store, wire: wire!, buckets: buckets!)
        pipeline = WorkPipeline(computer: computer!, loader: loader, wire: wire!, buckets: buckets!, inMemoryInputs: inMemoryInputs)
        weightsStep = nil
    }

    /// What in a welcome's configuration this worker cannot use, or nil.
    static func inconsistency(_ config: RunConfig) -> String? {
        let k = config.model.keypoints
        guard (1...4096).contains(k) else { return "has \(k) keypoints" }
        if let pair = config.description.flipPairs.first(where: { $0.count != 2 || !$0.allSatisfy((0..<k).contains) }) {
            return "has flip pair \(pair), not two of its \(k) keypoints"
        }
        guard (1...65_536).contains(config.microBatch) else { return "has micro-batch \(config.microBatch)" }
        if config.computePrecision == .bf16 && !Engine.hasBFloat16 {
            return "computes in bf16 (--precision bf16), which this CPU cannot (oneDNN runs \(Engine.instructionSet) kernels "
                + "here, no AVX512-BF16); every worker of a run computes in one precision, so this one leaves"
        }
        return nil
    }

    /// Keeps a shard's samples after checking that its fields and frames agree: one image frame,
    /// 2K keypoint coordinates (finite) and K visibility flags per sample.
    private func keep(_ f: ShardFields, images: [Frame], keypoints k: Int) throws {
        guard f.indices.count == images.count, f.keypoints.count == f.indices.count,
              f.visibility.count == f.indices.count, f.paths.count == f.indices.count else {
            throw MalformedInput(reason: "a shard whose fields and frames disagree")
        }
        for i in f.indices.indices {
            guard f.indices[i] >= 0, f.keypoints[i].count == 2 * k, f.visibility[i].count == k,
                  f.keypoints[i].allSatisfy(\.isFinite), !images[i].data.isEmpty else {
                throw MalformedInput(reason: "shard sample \(f.indices[i]) (\(f.paths[i].prefix(200))) has \(f.keypoints[i].count) "
                                     + "coordinates and \(f.visibility[i].count) visibility flags for \(k) keypoints, or no image")
            }
        }
        for (i, index) in f.indices.enumerated() {
            samples.keep(index: index, image: images[i].data, keypoints: f.keypoints[i], visibility: f.visibility[i], path: f.paths[i])
        }
    }

    /// Queues one micro-batch: its decoding starts now, its compute once the compute thread is free
    /// and its step's weights are loaded. Work for a step other than the latest weights' or the
    /// next (sent ahead of its weights) is dropped; work naming samples this worker never kept (a
    /// shard it refused) makes it start afresh with a hello, so that the coordinator sends them again.
    private func compute(_ m: Message, _ f: WorkFields) throws {
        guard let computer, let pipeline, let weightsStep, m.step == weightsStep || m.step == weightsStep + 1 else {
            throw MalformedInput(reason: "work for step \(m.step), but the weights are for step \(weightsStep.map(String.init) ?? "none")")
        }
        guard f.epoch >= 0, f.microBatch >= 0, !f.indices.isEmpty, f.indices.count <= computer.config.microBatch else {
            throw MalformedInput(reason: "work with epoch \(f.epoch), micro-batch \(f.microBatch) and \(f.indices.count) samples")
        }
        let missing = samples.missing(f.indices)
        guard missing.isEmpty else {
            log("micro-batch \(f.microBatch) of step \(m.step) needs samples \(missing.prefix(5)) this worker does not hold: "
                + "saying hello again to be sent them")
            pipeline.drain()
            self.pipeline = nil
            self.computer = nil
            lastHello = .distantPast
            return try sayHello()
        }
        pipeline.submit(WorkPipeline.Job(step: m.step, fields: f))
    }

    /// Sends the gradient buckets and gradients of every micro-batch computed since the last call,
    /// in order; true when it sent any.
    private func sendOutcomes() throws -> Bool {
        var sent = false
        for outcome in pipeline?.takeOutcomes() ?? [] {
            switch outcome {
            case .gradients(let message), .bucket(let message):
                try transport.send(message)
                sent = true
            case .stale(let job, let step):
                log("dropped micro-batch \(job.fields.microBatch) of step \(job.step): weights for step \(step) came first")
            case .failed(let error):
                throw error
            }
        }
        return sent
    }
}
