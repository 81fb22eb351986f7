// The whole coordinator <-> worker protocol in one place: message kinds, who sends each and when,
// their fields, and what each side accepts. The frames and their checks are in WireCodec.swift.
import Foundation
import Model
import Training

/// The protocol version; both sides must speak the same one. 2: the welcome's run configuration
/// carries the BN statistics prior. 3: it carries the head kind and its settings, the feature
/// stride and the neck (a v2 worker would build a regression head). 4: `rejoin`; workers no longer
/// say hello again on silence, and each side refuses frames its kind may not carry. 5: weights and
/// gradients travel at the run's wire precision (f32, bf16, fp16 with per-tensor scales); a worker
/// holds up to two micro-batches, and may be sent the next step's before that step's weights.
/// 6: a worker sends its gradient in buckets while backward runs (`gradientBucket`), and the
/// coordinator sends the weights in buckets (a `weights` message each) that the forward starts on;
/// the welcome carries the bucket size.
public let wireProtocolVersion: UInt16 = 6

/// What a message is. Direction and timing are given per case.
public enum MessageKind: UInt8, Sendable, CaseIterable {
    /// Worker -> coordinator, on connect and after a reconnect: "I exist" (metadata: name, host, threads).
    case hello = 1
    /// Coordinator -> worker, answering hello: the worker's id and the run's configuration
    /// (metadata: model, training and data settings as JSON).
    case welcome = 2
    /// Coordinator -> worker: samples to keep in memory (metadata: dataset indices and labels;
    /// bulk: one frame per encoded image). Sent once per sample: later epochs move no image bytes.
    case shard = 3
    /// Coordinator -> worker, after each optimizer step (and to a joining worker): one bucket of the
    /// weights for `step`, bucket 0 first (metadata: epoch, bucket; bulk: the bucket's parameters
    /// at the run's wire precision, and with bucket 0 the BN statistics in f32).
    case weights = 4
    /// Coordinator -> worker: compute one micro-batch of `step` (metadata: epoch, micro-batch id,
    /// dataset indices). A worker holds up to two; work for the step after its weights' step comes
    /// ahead of those weights (the worker decodes it, and computes it once they arrive).
    case work = 5
    /// Worker -> coordinator: the result of a work message (metadata: micro-batch id, loss, sample
    /// count; bulk: bucket 0 of the gradients at the run's wire precision (all of them when there
    /// is one bucket), then BN batch means and variances in f32). Its other buckets came before it.
    case gradients = 6
    /// Either way, when idle: "still here".
    case heartbeat = 7
    /// Coordinator -> worker: training is over, exit. Worker -> coordinator: leaving.
    case bye = 8
    /// Coordinator -> worker: the worker was refused (metadata: reason); the worker exits with it.
    case refused = 9
    /// Coordinator -> worker, answering a heartbeat from a worker it does not know (it restarted, or
    /// removed that worker): "say hello". Silence alone never makes a worker say hello again, since
    /// a coordinator that validates or checkpoints is silent and busy, not gone.
    case rejoin = 10
    /// Worker -> coordinator, while backward runs: one bucket (1 or more) of a micro-batch's
    /// gradients, as soon as backward has computed its tensors (metadata: micro-batch id, bucket;
    /// bulk: the bucket at the run's wire precision). See ``ParameterBuckets``.
    case gradientBucket = 11
}

/// A decoded message: kind, step, small metadata, and bulk frames.
public struct Message: Sendable {
    public var kind: MessageKind
    public var step: UInt64
    /// Small structured fields, JSON-encoded in the header.
    public var metadata: Foundation.Data
    public var bulk: [Frame]

    public init(kind: MessageKind, step: UInt64 = 0, metadata: Foundation.Data = Foundation.Data("{}".utf8), bulk: [Frame] = []) {
        self.kind = kind
        self.step = step
        self.metadata = metadata
        self.bulk = bulk
    }

    /// A message with Codable metadata.
    public init<M: Encodable>(kind: MessageKind, step: UInt64 = 0, _ fields: M, bulk: [Frame] = []) throws {
        self.init(kind: kind, step: step, metadata: try JSONEncoder().encode(fields), bulk: bulk)
    }

    /// Decodes the metadata as `M`; the error names the message kind.
    public func fields<M: Decodable>(_ type: M.Type) throws -> M {
        do { return try JSONDecoder().decode(M.self, from: metadata) } catch {
            throw ClusterError("malformed \(kind) metadata: \(error)")
        }
    }

    /// A short description for logs: `gradients step=120 bulk=2 (17.1 MB)`.
    public var summary: String {
        let bytes = bulk.reduce(0) { $0 + $1.count }
        return "\(kind) step=\(step) bulk=\(bulk.count)" + (bytes > 0 ? String(format: " (%.1f MB)", Double(bytes) / 1e6) : "")
    }
}

// MARK: - Metadata of each message kind (JSON in the header)

/// `hello`: who the worker is. `name` is also its routing id.
public struct HelloFields: Codable, Sendable {
    public var name: String
    public var host: String
    public var threads: Int
    public var pid: Int32

    public init(name: String, host: String, threads: Int, pid: Int32) {
        self.name = name; self.host = host; self.threads = threads; self.pid = pid
    }
}

/// `welcome`: the run's configuration; the worker builds its network from it, and cuts its
/// gradients into buckets of `bucketBytes` (``ParameterBuckets``): a transport setting, not part of
/// the run's maths, so it is not in the run configuration.
public struct WelcomeFields: Codable, Sendable {
    public var config: RunConfig
    public var bucketBytes: Int
    public init(config: RunConfig, bucketBytes: Int = ParameterBuckets.defaultBytes) {
        self.config = config; self.bucketBytes = bucketBytes
    }
}

/// `shard`: samples to keep. Bulk frame i is the encoded image of `indices[i]`.
public struct ShardFields: Codable, Sendable {
    public var indices: [Int]
    public var keypoints: [[Float]]
    public var visibility: [[UInt8]]
    public var paths: [String]

    public init(indices: [Int], keypoints: [[Float]], visibility: [[UInt8]], paths: [String]) {
        self.indices = indices; self.keypoints = keypoints; self.visibility = visibility; self.paths = paths
    }
}

/// `weights`: bucket `bucket` of the weights for the header's step (the step they start). Bulk:
/// the bucket's parameters (``WireFloats`` over its tensors), and with bucket 0 the statistics (f32 LE).
public struct WeightsFields: Codable, Sendable {
    public var epoch: Int
    public var bucket: Int

    public init(epoch: Int, bucket: Int) { self.epoch = epoch; self.bucket = bucket }

    private enum CodingKeys: String, CodingKey { case epoch, bucket }

    /// Weights with no fields are the whole of a one-bucket layout (bucket 0), as tests send them.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decodeIfPresent(Int.self, forKey: .epoch) ?? 0
        bucket = try c.decodeIfPresent(Int.self, forKey: .bucket) ?? 0
    }
}

/// `work`: compute micro-batch `microBatch` of the header's step over dataset `indices`.
public struct WorkFields: Codable, Sendable {
    public var epoch: Int
    public var microBatch: Int
    public var indices: [Int]

    public init(epoch: Int, microBatch: Int, indices: [Int]) {
        self.epoch = epoch; self.microBatch = microBatch; self.indices = indices
    }
}

/// `gradients`: bulk frame 0 holds the gradient sum (``WireFloats``), frame 1 (when `hasStatistics`)
/// the BN batch statistics (f32 little-endian), both in the buffers' layouts.
public struct GradientFields: Codable, Sendable {
    public var microBatch: Int
    public var lossSum: Float
    public var labelled: Float
    public var samples: Int
    public var hasStatistics: Bool
    public var failures: [String]
    /// Seconds of forward, loss and backward (for the step-time split). Decoding and augmenting run
    /// ahead on another thread and are not counted, nor are waits for weights still on the way.
    public var computeSeconds: Double

    public init(microBatch: Int, lossSum: Float, labelled: Float, samples: Int, hasStatistics: Bool, failures: [String],
                computeSeconds: Double) {
        self.microBatch = microBatch; self.lossSum = lossSum; self.labelled = labelled; self.samples = samples
        self.hasStatistics = hasStatistics; self.failures = failures; self.computeSeconds = computeSeconds
    }
}

/// `gradientBucket`: bucket `bucket` (1 or more) of micro-batch `microBatch`'s gradients; bulk
/// frame 0 holds it (``WireFloats`` over the bucket's tensors).
public struct GradientBucketFields: Codable, Sendable {
    public var microBatch: Int
    public var bucket: Int
    public init(microBatch: Int, bucket: Int) { self.microBatch = microBatch; self.bucket = bucket }
}

/// `refused` and `bye`: why.
public struct ReasonFields: Codable, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

// MARK: - What each side accepts

extension WireLimits {
    /// What the coordinator accepts from workers: hello, heartbeat and bye with no bulk;
    /// gradients with exactly bucket 0's frame (`wire`'s size over its tensors) and optionally the
    /// BN statistics frame (S floats) of `store`; gradient buckets with exactly one of the other
    /// buckets' frames. Headers are at most 256 KiB (a gradients header lists the samples a worker
    /// skipped, each with its path and reason).
    public static func coordinator(for store: ParameterStore, wire: WireFloats, buckets: ParameterBuckets) -> WireLimits {
        let p = buckets.frameBytes[0], s = store.statistics.count * 4
        var kinds: [MessageKind: BulkRule] = [.hello: .none, .heartbeat: .none, .bye: .none, .gradients: .oneOf([[p], [p, s]])]
        if buckets.count > 1 { kinds[.gradientBucket] = .oneOf(Set(buckets.frameBytes.dropFirst()).sorted().map { [$0] }) }
        return WireLimits(headerBytes: 256 << 10, kinds: kinds)
    }

    /// What a worker accepts from its coordinator before it knows the model: every coordinator
    /// kind; weights with two frames of at most 1 GiB; shards with at most 4096 images of at most
    /// 64 MiB each (a micro-batch's samples); headers up to 64 MiB (a shard's labels and paths).
    public static let workerBeforeWelcome = WireLimits(headerBytes: 64 << 20, kinds: [
        .welcome: .none, .work: .none, .heartbeat: .none, .bye: .none, .refused: .none, .rejoin: .none,
        .shard: .upTo(frames: 4096, bytesEach: 64 << 20), .weights: .upTo(frames: 2, bytesEach: 1 << 30),
    ])

    /// What a worker accepts once it has built the model of `store`: weights are exactly one
    /// bucket's parameters (`wire`'s size over its tensors), with the BN statistics for bucket 0.
    public static func worker(for store: ParameterStore, wire: WireFloats, buckets: ParameterBuckets) -> WireLimits {
        var limits = workerBeforeWelcome
        limits.kinds[.weights] = .oneOf([[buckets.frameBytes[0], store.statistics.count * 4]]
                                        + Set(buckets.frameBytes.dropFirst()).sorted().map { [$0] })
        return limits
    }
}

extension Frame {
    /// A bulk frame holding floats (little-endian f32), copied once.
    public static func floats(_ values: [Float]) -> Frame {
        .shared(values.withUnsafeBytes { SharedBytes(copying: $0.baseAddress!, count: $0.count) })
    }

    /// A bulk frame holding `count` floats at `pointer`, copied once (a snapshot).
    public static func floats(_ pointer: UnsafePointer<Float>, count: Int) -> Frame {
        .shared(SharedBytes(copying: pointer, count: count * 4))
    }

    /// The frame's bytes as floats, copied once; nil when the length is not `expected` floats.
    public func floatArray(expected: Int) -> [Float]? {
        func copy(_ raw: UnsafeRawBufferPointer) -> [Float]? {
            guard raw.count == expected * 4 else { return nil }
            guard let base = raw.baseAddress else { return [] }
            return [Float](unsafeUninitializedCapacity: expected) { out, n in
                UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: base, byteCount: raw.count)
                n = expected
            }
        }
        switch self {
        case .bytes(let d): return d.withUnsafeBytes(copy)
        case .shared(let s): return copy(UnsafeRawBufferPointer(start: s.pointer, count: s.count))
        }
    }

    public var data: Foundation.Data {
        switch self {
        case .bytes(let d): return d
        case .shared(let s): return s.data
        }
    }
}
