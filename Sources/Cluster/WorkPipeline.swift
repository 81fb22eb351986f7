// A worker's micro-batches in flight, so that it never waits: each is decoded and augmented on one
// thread as soon as it arrives, computed on another as soon as the first bucket of its step's
// weights is in (the forward takes each later bucket as it reaches the layers that need it), and
// its gradients encoded there, bucket by bucket as backward finishes them, for the socket thread
// to send, which meanwhile keeps reading. Work runs in the order it arrived, with the weights of
// its step, so the maths is the sequential worker's.
import Compute
import Data
import Dispatch
import Foundation
import Model
import Training

final class WorkPipeline: @unchecked Sendable {
    /// One micro-batch to compute: the work message's step and fields.
    struct Job: Sendable {
        var step: UInt64
        var fields: WorkFields
    }

    /// What became of a job: the gradients message to send, or why there is none; or, before
    /// that, one of its gradient buckets to send (not an outcome of the job: more follow).
    enum Outcome {
        case gradients(Message)
        case bucket(Message)
        /// New weights came before it was computed (the coordinator gave it to another worker).
        case stale(Job, weightsStep: UInt64)
        case failed(Error)
    }

    private let computer: MicroBatchComputer
    private let loader: BatchLoader
    private let wire: WireFloats
    private let buckets: ParameterBuckets
    private let decoder = DispatchQueue(label: "keypoints.worker.decode")
    /// Benchmark mode (`worker --in-memory-inputs`): the first failure-free batch of each size,
    /// decoded once and fed from memory to every later job of that size. Used by the decode thread only.
    private var inMemory: [Int: LoadedBatch]?
    /// One thread for every compute: OpenMP's thread count and thread pool belong to the thread
    /// that runs the kernels, and a dispatch queue may use a different one each time.
    private let compute: ComputeThread
    private let condition = NSCondition()
    // Guarded by `condition`:
    /// Decoded jobs in arrival order, waiting for the compute thread.
    private var decoded: [(job: Job, batch: LoadedBatch)] = []
    /// The newest step's weights, as far as they came (nil after a drain).
    private var incoming: WeightsStaging?
    /// The weights the network computes with: adopted from `incoming` once its bucket 0 is in and
    /// the network is free; their buckets are copied in as forwards need them.
    private var loaded: WeightsStaging?
    /// The step of the weights in the network.
    private var loadedStep: UInt64? { loaded?.step }
    private var computing = false
    private var outcomes: [Outcome] = []
    /// Jobs submitted whose outcome has not been taken.
    private var unfinished = 0

    /// With `inMemoryInputs`, every job of a size already decoded reuses that batch's tensors (the
    /// distributed path measured without its input pipeline, as PyTorch's benchmarks feed tensors).
    /// Weights arrive and gradients leave cut into `buckets` (one bucket: whole).
    init(computer: MicroBatchComputer, loader: BatchLoader, wire: WireFloats, buckets: ParameterBuckets, inMemoryInputs: Bool = false) {
        self.computer = computer
        self.loader = loader
        self.wire = wire
        self.buckets = buckets
        inMemory = inMemoryInputs ? [:] : nil
        compute = ComputeThread(threads: Engine.threads)
    }

    deinit { compute.stop() }

    /// True while a submitted job has no outcome taken yet (the socket thread then polls briefly).
    var busy: Bool { locked { unfinished > 0 } }

    /// Queues `job`; its samples must be held already. Decoding starts now, on the decode thread.
    func submit(_ job: Job) {
        locked { unfinished += 1 }
        decoder.async { [self] in
            let batch = render(job)
            locked { decoded.append((job, batch)) }
            advance()
        }
    }

    /// The job's batch: decoded and augmented, or in benchmark mode the in-memory one of its size.
    private func render(_ job: Job) -> LoadedBatch {
        let count = job.fields.indices.count
        if var kept = inMemory?[count] {
            kept.indices = job.fields.indices
            return kept
        }
        let batch = loader.load(epoch: job.fields.epoch, indices: job.fields.indices)
        if inMemory != nil, batch.failures.isEmpty { inMemory?[count] = batch }
        return batch
    }

    /// Bucket `bucket` of the weights for `step` (its frame at the wire precision; the S BN
    /// statistics with bucket 0, which starts a step's weights), widened into that step's staging
    /// buffer on the calling thread. nil, or why the bucket was refused (nothing is written then).
    func setWeights(step: UInt64, bucket: Int, frame: Frame, statistics: [Float]?) -> String? {
        let staging: WeightsStaging
        do {
            condition.lock()
            defer { condition.unlock() }
            if bucket == 0, incoming?.step != step { incoming = WeightsStaging(step: step, count: wire.count) }
            guard let s = incoming, s.step == step else { return "weights bucket \(bucket) of step \(step) before its bucket 0" }
            guard !s.received.contains(bucket) else { return "weights bucket \(bucket) of step \(step) a second time" }
            staging = s
        }
        // The compute thread reads a bucket only once it is marked received: no one else touches these floats.
        guard wire.decode(frame, tensors: buckets.tensors[bucket], into: staging.parameters.baseAddress!) else {
            return "weights bucket \(bucket) of \(frame.count) bytes, not the \(buckets.frameBytes[bucket]) of its tensors"
        }
        locked {
            if let statistics { staging.statistics = statistics }
            staging.received.insert(bucket)
        }
        advance()
        return nil
    }

    /// Outcomes since the last call, in the order the jobs ran (each job's buckets before its gradients).
    func takeOutcomes() -> [Outcome] {
        locked {
            let taken = outcomes
            outcomes = []
            unfinished -= taken.filter { if case .bucket = $0 { false } else { true } }.count
            return taken
        }
    }

    /// Ends the pipeline's work (a new welcome): waits for the decode thread and for the job being
    /// computed, and drops everything else, outcomes included. The network is then free to reuse.
    func drain() {
        decoder.sync {}
        condition.lock()
        decoded.removeAll()
        incoming = nil  // a forward waiting for a bucket gives up (see `load`)
        condition.broadcast()
        while computing { condition.wait() }
        decoded.removeAll()
        outcomes.removeAll()
        unfinished = 0
        condition.unlock()
    }

    /// Loads waiting weights and starts the next job when the compute thread is free: the first
    /// decoded job of the loaded weights' step. Older jobs are stale; newer ones wait for their
    /// weights, and a job of this step that came after one of the next (a micro-batch requeued
    /// from a worker that left) does not wait behind it.
    private func advance() {
        condition.lock()
        defer { condition.unlock() }
        guard !computing else { return }
        if let w = incoming, w !== loaded, w.received.contains(0) {
            computer.network.store.statistics.load(w.statistics)
            loaded = w
        }
        if let step = loadedStep, decoded.contains(where: { $0.job.step < step }) {
            for old in decoded where old.job.step < step { outcomes.append(.stale(old.job, weightsStep: step)) }
            decoded.removeAll { $0.job.step < step }
            condition.broadcast()
        }
        guard let i = decoded.firstIndex(where: { $0.job.step == loadedStep }) else { return }
        let first = decoded.remove(at: i), weights = loaded!
        computing = true
        compute.run { [self] in
            let outcome = run(first.job, first.batch, weights: weights)
            locked {
                outcomes.append(outcome)
                computing = false
            }
            advance()
        }
    }

    /// Forward, loss and backward of one job, and its gradients message (encoded at the wire
    /// precision). Buckets 1... go out as backward finishes their tensors, the last first; those
    /// it never reports (a frozen backbone's, or every bucket of a batch whose samples all failed)
    /// go out after it, from the result; bucket 0 travels in the gradients message.
    private func run(_ job: Job, _ batch: LoadedBatch, weights: WeightsStaging) -> Outcome {
        do {
            let started = Date()
            var unsent = buckets.count
            let send = { [self] (bucket: Int, gradients: UnsafePointer<Float>) throws in
                let frame = wire.frame(gradients, tensors: buckets.tensors[bucket])
                let m = try Message(kind: .gradientBucket, step: job.step,
                                    GradientBucketFields(microBatch: job.fields.microBatch, bucket: bucket), bulk: [frame])
                locked { outcomes.append(.bucket(m)) }
                unsent = bucket
            }
            let scratch = UnsafePointer(computer.network.store.gradients.base)
            var failed: Error?
            var waited = 0.0  // for weights still on the way: transfer, not compute
            let r = try computer.compute(batch, step: Int(job.step), epoch: job.fields.epoch, index: job.fields.microBatch,
                                         weightsNeeded: { [self] t in
                                             let asked = Date()
                                             try load(weights, tensors: t)
                                             waited += Date().timeIntervalSince(asked)
                                         },
                                         gradientsReady: { [self] first in
                guard failed == nil else { return }
                do { for b in buckets.ready(from: first, after: unsent) { try send(b, scratch) } } catch { failed = error }
            })
            if let failed { throw failed }
            return try r.gradients.withUnsafeBufferPointer { g -> Outcome in
                for b in buckets.ready(from: 0, after: unsent) { try send(b, g.baseAddress!) }
                var bulk: [Frame] = [wire.frame(g.baseAddress!, tensors: buckets.tensors[0])]
                if let stats = r.batchStatistics { bulk.append(.floats(stats)) }
                let fields = GradientFields(microBatch: job.fields.microBatch, lossSum: r.lossSum, labelled: r.labelled, samples: r.samples,
                                            hasStatistics: r.batchStatistics != nil, failures: r.failures,
                                            computeSeconds: Date().timeIntervalSince(started) - waited)
                return .gradients(try Message(kind: .gradients, step: job.step, fields, bulk: bulk))
            }
        } catch is Superseded {
            return .stale(job, weightsStep: locked { incoming?.step } ?? job.step)
        } catch {
            return .failed(error)
        }
    }

    /// Newer weights (or a drain) came before the bucket a forward waited for: its job is stale.
    private struct Superseded: Error {}

    /// Returns once the network holds `weights`' tensors 0..<t: each bucket they touch is waited
    /// for (while `weights` is still the newest step's) and copied in the first time.
    private func load(_ weights: WeightsStaging, tensors t: Int) throws {
        for b in buckets.needed(for: t) {
            let copy: Bool = try locked {
                while !weights.received.contains(b) && incoming === weights { condition.wait() }
                guard weights.received.contains(b) else { throw Superseded() }
                return weights.loaded.insert(b).inserted
            }
            guard copy else { continue }
            let range = wire.elements(buckets.tensors[b])
            (computer.network.store.parameters.base + range.lowerBound).update(from: weights.parameters.baseAddress! + range.lowerBound,
                                                                               count: range.count)
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.broadcast(); condition.unlock() }
        return try body()
    }
}

/// One step's weights as they arrive: the socket thread widens each bucket into `parameters`, then
/// marks it received; the compute thread copies a bucket into the network only once it is marked,
/// so the two never touch the same floats at once.
private final class WeightsStaging: @unchecked Sendable {
    let step: UInt64
    /// P floats; a bucket's are valid once it is in `received`.
    let parameters: UnsafeMutableBufferPointer<Float>
    /// The BN running statistics (S floats), with bucket 0.
    var statistics: [Float] = []
    /// Buckets written, and buckets copied into the network (both guarded by the pipeline's condition).
    var received: Set<Int> = [], loaded: Set<Int> = []

    init(step: UInt64, count: Int) {
        self.step = step
        parameters = .allocate(capacity: max(count, 1))
    }

    deinit { parameters.deallocate() }
}

/// A thread that runs blocks one at a time in submission order, with oneDNN's thread count set on
/// it to the count of the thread that made it.
private final class ComputeThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var blocks: [() -> Void] = []
    private var stopping = false

    init(threads: Int) {
        let thread = Thread { [self] in
            Engine.setThreads(threads)
            while let block = next() { block() }
        }
        thread.name = "keypoints.worker.compute"
        thread.start()
    }

    func run(_ block: @escaping () -> Void) {
        condition.lock(); blocks.append(block); condition.signal(); condition.unlock()
    }

    /// Ends the thread once the blocks already given have run.
    func stop() {
        condition.lock(); stopping = true; condition.signal(); condition.unlock()
    }

    private func next() -> (() -> Void)? {
        condition.lock()
        defer { condition.unlock() }
        while blocks.isEmpty && !stopping { condition.wait() }
        return blocks.isEmpty ? nil : blocks.removeFirst()
    }
}
