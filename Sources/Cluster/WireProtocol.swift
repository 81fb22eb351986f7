// The whole coordinator <-> worker protocol in one place: message kinds, who sends each and when,
// their fields, and the two entry points that turn a message into frames and back.
//
// Every message is one ZeroMQ multipart message: a header frame, then one frame per bulk array
// (parameters, gradients, encoded images) so that large arrays are never re-encoded. The header is
//
//     magic "KPTS" | version u16 | kind u8 | 0 u8 | step u64 | bulk count u16 |
//     per bulk frame: byte length u64, CRC-32 u32 | JSON metadata (UTF-8, the rest)
//
// all little-endian. The step lets either side recognise and drop stale or duplicate messages.
import Foundation
import Model
import Training

/// The protocol version; both sides must speak the same one. 2: the welcome's run configuration
/// carries the BN statistics prior. 3: it carries the head kind and its settings, the feature
/// stride and the neck (a v2 worker would build a regression head).
public let wireProtocolVersion: UInt16 = 3

/// The largest message the coordinator accepts, bytes: a gradient message (parameters and BN
/// statistics as float32) plus 4 MiB for its header and metadata. Anything larger is refused by the
/// socket before it is stored.
public func maxCoordinatorMessageSize(for store: ParameterStore) -> Int {
    (store.parameters.count + store.statistics.count) * MemoryLayout<Float>.size + 4 << 20
}
let wireMagic: [UInt8] = Array("KPTS".utf8)

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
    /// Coordinator -> worker, after each optimizer step (and to a joining worker): the weights for
    /// `step` (bulk: parameters, BN statistics).
    case weights = 4
    /// Coordinator -> worker: compute one micro-batch of `step` (metadata: epoch, micro-batch id,
    /// dataset indices, loss normaliser, dropout seed).
    case work = 5
    /// Worker -> coordinator: the result of a work message (metadata: micro-batch id, loss, sample
    /// count; bulk: gradients, then BN batch means and variances in layer order).
    case gradients = 6
    /// Either way, when idle: "still here".
    case heartbeat = 7
    /// Coordinator -> worker: training is over, exit. Worker -> coordinator: leaving.
    case bye = 8
    /// Coordinator -> worker: the worker was refused (metadata: reason); the worker exits with it.
    case refused = 9
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

public enum WireCodec {
    /// Message -> frames (header first). Bulk frames are passed through untouched.
    public static func encode(_ m: Message) -> [Frame] {
        var header = wireMagic
        append(&header, wireProtocolVersion)
        header.append(m.kind.rawValue)
        header.append(0)
        append(&header, m.step)
        append(&header, UInt16(m.bulk.count))
        for frame in m.bulk {
            append(&header, UInt64(frame.count))
            append(&header, checksum(frame))
        }
        header.append(contentsOf: m.metadata)
        return [.bytes(Foundation.Data(header))] + m.bulk
    }

    /// Frames -> message, checking magic, version, lengths and checksums. Anything wrong throws a
    /// `ClusterError` saying what; the caller drops the message and logs it (never crashes).
    public static func decode(_ frames: [Foundation.Data]) throws -> Message {
        guard let header = frames.first, header.count >= 18 else { throw ClusterError("message too short to have a header") }
        let h = [UInt8](header)
        guard Array(h[0..<4]) == wireMagic else { throw ClusterError("not a keypoints message (bad magic)") }
        let version: UInt16 = read(h, 4)
        guard version == wireProtocolVersion else {
            throw ClusterError("peer speaks protocol v\(version), this build v\(wireProtocolVersion): "
                + "rebuild coordinator and workers from the same commit")
        }
        guard let kind = MessageKind(rawValue: h[6]) else { throw ClusterError("unknown message kind \(h[6])") }
        let step: UInt64 = read(h, 8)
        let count = Int(read(h, 16) as UInt16)
        let metadataStart = 18 + 12 * count
        guard h.count >= metadataStart else { throw ClusterError("\(kind) header truncated") }
        guard frames.count == 1 + count else {
            throw ClusterError("\(kind) announces \(count) bulk frames but carries \(frames.count - 1)")
        }
        var bulk: [Frame] = []
        for i in 0..<count {
            let length: UInt64 = read(h, 18 + 12 * i)
            let sum: UInt32 = read(h, 26 + 12 * i)
            let frame = frames[1 + i]
            guard UInt64(frame.count) == length else {
                throw ClusterError("\(kind) bulk frame \(i) has \(frame.count) bytes, header says \(length)")
            }
            let actual = frame.withUnsafeBytes { crc32($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: frame.count) }
            guard actual == sum else { throw ClusterError("\(kind) bulk frame \(i) fails its checksum (corrupted in transit)") }
            bulk.append(.bytes(frame))
        }
        return Message(kind: kind, step: step, metadata: Foundation.Data(h[metadataStart...]), bulk: bulk)
    }

    private static func checksum(_ f: Frame) -> UInt32 {
        switch f {
        case .bytes(let d): return d.withUnsafeBytes { crc32($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: d.count) }
        case .shared(let s): return crc32(s.pointer, count: s.count)
        }
    }

    private static func append<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func read<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(bytes[offset + i]) << (8 * i) }
        return v
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

/// `welcome`: the run's configuration; the worker builds its network from it.
public struct WelcomeFields: Codable, Sendable {
    public var config: RunConfig
}

/// `shard`: samples to keep. Bulk frame i is the encoded image of `indices[i]`.
public struct ShardFields: Codable, Sendable {
    public var indices: [Int]
    public var keypoints: [[Float]]
    public var visibility: [[UInt8]]
    public var paths: [String]
}

/// `weights`: the header's step is the step these weights start. Bulk: parameters, statistics (f32 LE).
public struct WeightsFields: Codable, Sendable {
    public var epoch: Int
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

/// `gradients`: bulk frame 0 holds the gradient sum, frame 1 (when `hasStatistics`) the BN batch
/// statistics, both f32 little-endian in the buffers' layouts.
public struct GradientFields: Codable, Sendable {
    public var microBatch: Int
    public var lossSum: Float
    public var labelled: Float
    public var samples: Int
    public var hasStatistics: Bool
    public var failures: [String]
    /// Seconds the worker spent decoding, augmenting and computing (for the step-time split).
    public var computeSeconds: Double

    public init(microBatch: Int, lossSum: Float, labelled: Float, samples: Int, hasStatistics: Bool, failures: [String],
                computeSeconds: Double) {
        self.microBatch = microBatch; self.lossSum = lossSum; self.labelled = labelled; self.samples = samples
        self.hasStatistics = hasStatistics; self.failures = failures; self.computeSeconds = computeSeconds
    }
}

/// `refused` and `bye`: why.
public struct ReasonFields: Codable, Sendable {
    public var reason: String
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

    /// The frame's bytes as floats; nil when the length is not `expected` floats.
    public func floatArray(expected: Int) -> [Float]? {
        let bytes: Foundation.Data
        switch self {
        case .bytes(let d): bytes = d
        case .shared(let s): bytes = s.data
        }
        guard bytes.count == expected * 4 else { return nil }
        return bytes.withUnsafeBytes { raw in (0..<expected).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
    }

    public var data: Foundation.Data {
        switch self {
        case .bytes(let d): return d
        case .shared(let s): return s.data
        }
    }
}
