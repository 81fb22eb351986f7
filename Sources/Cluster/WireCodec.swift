// Messages as frames and back: the header layout, the two entry points (encode, decode), and the
// frame-by-frame admission check that lets a receiver refuse a message before copying its bulk.
//
// Every message is one ZeroMQ multipart message: a header frame, then one frame per bulk array
// (parameters, gradients, encoded images) so that large arrays are never re-encoded. The header is
//
//     magic "KPTS" | version u16 | kind u8 | 0 u8 | step u64 | bulk count u16 |
//     per bulk frame: byte length u64, CRC-32C u32 | JSON metadata (UTF-8, the rest)
//
// all little-endian. The step lets either side recognise and drop stale or duplicate messages.
import Foundation
import Model

let wireMagic: [UInt8] = Array("KPTS".utf8)
/// Bytes of the fixed part of the header, before the per-frame entries.
let wireHeaderFixedBytes = 18

/// Why an incoming message was refused. Every refusal is one of these; none of them ends the receiver.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// No header frame, or fewer bytes than the fixed header.
    case tooShort
    case badMagic
    case versionMismatch(peer: UInt16)
    case unknownKind(UInt8)
    /// A kind this side never receives (a worker sending `weights`).
    case unexpectedKind(MessageKind)
    /// The header ends inside its per-frame entries.
    case headerTruncated(MessageKind)
    /// The header frame is larger than this side accepts.
    case headerTooLarge(bytes: Int, limit: Int)
    /// The bulk frame sizes announced are not ones this kind may carry here.
    case bulkNotAllowed(MessageKind, sizes: [Int])
    /// More or fewer bulk frames than announced (`carried` is a lower bound when there were more).
    case frameCount(MessageKind, announced: Int, carried: Int)
    case frameLength(MessageKind, index: Int, bytes: Int, announced: Int)
    case checksum(MessageKind, index: Int)

    public var description: String {
        switch self {
        case .tooShort: return "message too short to have a header"
        case .badMagic: return "not a keypoints message (bad magic)"
        case .versionMismatch(let v):
            return "peer speaks protocol v\(v), this build v\(wireProtocolVersion): rebuild coordinator and workers from the same commit"
        case .unknownKind(let k): return "unknown message kind \(k)"
        case .unexpectedKind(let k): return "\(k) is never sent to this side"
        case .headerTruncated(let k): return "\(k) header truncated"
        case .headerTooLarge(let bytes, let limit): return "header of \(bytes) bytes, more than the \(limit) accepted"
        case .bulkNotAllowed(let k, let sizes):
            return "\(k) may not carry bulk frames of \(sizes) bytes here (coordinator and worker built differently?)"
        case .frameCount(let k, let announced, let carried):
            return "\(k) announces \(announced) bulk frames but carries \(carried == announced + 1 ? "more" : "\(carried)")"
        case .frameLength(let k, let i, let bytes, let announced):
            return "\(k) bulk frame \(i) has \(bytes) bytes, header says \(announced)"
        case .checksum(let k, let i): return "\(k) bulk frame \(i) fails its checksum (corrupted in transit)"
        }
    }
}

/// The bulk frames one message kind may carry, checked against the sizes its header announces.
public enum BulkRule: Sendable, Equatable {
    /// No bulk frames.
    case none
    /// Exactly one of these lists of frame sizes, in bytes.
    case oneOf([[Int]])
    /// Up to `frames` frames of up to `bytesEach` bytes each.
    case upTo(frames: Int, bytesEach: Int)

    func allows(_ sizes: [Int]) -> Bool {
        switch self {
        case .none: return sizes.isEmpty
        case .oneOf(let lists): return lists.contains(sizes)
        case .upTo(let frames, let bytesEach): return sizes.count <= frames && sizes.allSatisfy { $0 <= bytesEach }
        }
    }
}

/// What one side accepts: the largest header, and for each kind it receives the bulk it may carry.
/// A kind absent from `kinds` is refused. The receiver checks a message against these frame by
/// frame, before copying each frame, so a refused message costs no copy of its bulk.
public struct WireLimits: Sendable, Equatable {
    public var headerBytes: Int
    public var kinds: [MessageKind: BulkRule]

    public init(headerBytes: Int, kinds: [MessageKind: BulkRule]) {
        self.headerBytes = headerBytes
        self.kinds = kinds
    }

    /// Everything well-formed (tests and tools).
    public static let any = WireLimits(headerBytes: Int.max, kinds: Dictionary(
        uniqueKeysWithValues: MessageKind.allCases.map { ($0, BulkRule.upTo(frames: Int(UInt16.max), bytesEach: Int.max)) }))
}

/// A header's fixed part and frame table, read before any bulk frame.
public struct WireHeader {
    public var kind: MessageKind
    public var step: UInt64
    var lengths: [Int]
    var checksums: [UInt32]
    var metadataStart: Int

    /// Parses and checks magic, version, kind and the frame table.
    init(_ h: UnsafeRawBufferPointer) throws {
        guard h.count >= wireHeaderFixedBytes else { throw WireError.tooShort }
        guard Array(h[0..<4]) == wireMagic else { throw WireError.badMagic }
        let version: UInt16 = Self.read(h, 4)
        guard version == wireProtocolVersion else { throw WireError.versionMismatch(peer: version) }
        guard let kind = MessageKind(rawValue: h[6]) else { throw WireError.unknownKind(h[6]) }
        self.kind = kind
        step = Self.read(h, 8)
        let count = Int(Self.read(h, 16) as UInt16)
        metadataStart = wireHeaderFixedBytes + 12 * count
        guard h.count >= metadataStart else { throw WireError.headerTruncated(kind) }
        var lengths: [Int] = [], checksums: [UInt32] = []
        for i in 0..<count {
            let length: UInt64 = Self.read(h, wireHeaderFixedBytes + 12 * i)
            lengths.append(length > UInt64(Int.max) ? Int.max : Int(length))
            checksums.append(Self.read(h, wireHeaderFixedBytes + 8 + 12 * i))
        }
        self.lengths = lengths
        self.checksums = checksums
    }

    /// The header's kind and announced bulk are acceptable under `limits`.
    func check(_ limits: WireLimits) throws {
        guard let rule = limits.kinds[kind] else { throw WireError.unexpectedKind(kind) }
        guard rule.allows(lengths) else { throw WireError.bulkNotAllowed(kind, sizes: lengths) }
    }

    static func read<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(bytes[offset + i]) << (8 * i) }
        return v
    }
}

/// Checks one incoming message frame by frame, before each frame is copied: `admit(size:)` with
/// each frame's size, `read(header:)` once the header frame is copied, `finish()` after the last.
/// The first throw refuses the message; the receiver then discards its remaining frames unread.
public struct WireAdmission {
    public let limits: WireLimits
    /// The parsed header, once read.
    private(set) var header: WireHeader?
    /// Frames admitted so far (the header is frame 0).
    private var frames = 0

    public init(_ limits: WireLimits) { self.limits = limits }

    /// Frame number `frames` is `size` bytes: the header within the header limit, a bulk frame
    /// announced by the header with exactly that length.
    public mutating func admit(size: Int) throws {
        defer { frames += 1 }
        guard frames > 0 else {
            guard size >= wireHeaderFixedBytes else { throw WireError.tooShort }
            guard size <= limits.headerBytes else { throw WireError.headerTooLarge(bytes: size, limit: limits.headerBytes) }
            return
        }
        guard let h = header else { throw WireError.tooShort }
        guard frames <= h.lengths.count else { throw WireError.frameCount(h.kind, announced: h.lengths.count, carried: frames) }
        guard size == h.lengths[frames - 1] else {
            throw WireError.frameLength(h.kind, index: frames - 1, bytes: size, announced: h.lengths[frames - 1])
        }
    }

    /// The header frame's bytes: parsed, and its kind and announced bulk checked against the limits.
    public mutating func read(header bytes: Foundation.Data) throws {
        let h = try bytes.withUnsafeBytes { try WireHeader($0) }
        try h.check(limits)
        header = h
    }

    /// The message ended: it carried every frame its header announced.
    @discardableResult
    public func finish() throws -> WireHeader {
        guard let h = header else { throw WireError.tooShort }
        guard frames == 1 + h.lengths.count else {
            throw WireError.frameCount(h.kind, announced: h.lengths.count, carried: frames - 1)
        }
        return h
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

    /// Frames -> message, checking magic, version, lengths and checksums, and (with `limits`) the
    /// kind and its bulk. Anything wrong throws a `WireError` saying what; the caller drops the
    /// message and logs it (never crashes).
    public static func decode(_ frames: [Foundation.Data], limits: WireLimits = .any) throws -> Message {
        var admission = WireAdmission(limits)
        for frame in frames {
            try admission.admit(size: frame.count)
            if admission.header == nil { try admission.read(header: frame) }
        }
        let header = try admission.finish()
        let bulk: [Frame] = try header.lengths.indices.map { i in
            let frame = frames[1 + i]
            let actual = frame.withUnsafeBytes { crc32c($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: frame.count) }
            guard actual == header.checksums[i] else { throw WireError.checksum(header.kind, index: i) }
            return .bytes(frame)
        }
        return Message(kind: header.kind, step: header.step, metadata: frames[0].subdata(in: header.metadataStart..<frames[0].count),
                       bulk: bulk)
    }

    private static func checksum(_ f: Frame) -> UInt32 {
        switch f {
        case .bytes(let d): return d.withUnsafeBytes { crc32c($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: d.count) }
        case .shared(let s): return s.checksum { crc32c($0, count: $1) }
        }
    }

    private static func append<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }
}
