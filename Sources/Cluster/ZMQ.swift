// Our thin Swift wrapper over libzmq: a context, ROUTER/DEALER sockets, multipart messages with
// zero-copy bulk frames, non-blocking sends, frame-by-frame receives checked before each copy, and
// polling with a timeout. With Curve.swift, the only files that touch the C API.
internal import CZMQ
import Foundation

/// An error from the messaging layer, naming the call and the endpoint or peer involved.
public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

private func zmqFailure(_ what: String) -> ClusterError {
    ClusterError("\(what): \(String(cString: zmq_strerror(zmq_errno())))")
}

/// Bytes shared between the sender and libzmq's I/O thread: libzmq holds a reference until the
/// frame has left, so one snapshot can be sent to many peers without copying.
public final class SharedBytes: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int

    /// Copies `count` bytes from `source` into a new, owned buffer.
    public init(copying source: UnsafeRawPointer, count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        pointer.copyMemory(from: source, byteCount: count)
    }

    /// A new, owned buffer of `count` bytes that `fill` writes (it must write all of them).
    public init(count: Int, fill: (UnsafeMutableRawPointer) -> Void) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        fill(pointer)
    }

    public convenience init(_ data: Foundation.Data) {
        let bytes = [UInt8](data)
        self.init(copying: bytes, count: bytes.count)
    }

    deinit { pointer.deallocate() }

    public var data: Foundation.Data { Foundation.Data(bytes: pointer, count: count) }

    private let checksumLock = NSLock()
    private var cachedChecksum: UInt32?

    /// The bytes' checksum by `compute`, computed once: a broadcast sends one snapshot to every
    /// peer, and the bytes never change after init.
    public func checksum(_ compute: (UnsafeRawPointer, Int) -> UInt32) -> UInt32 {
        checksumLock.withLock {
            if let known = cachedChecksum { return known }
            let c = compute(pointer, count)
            cachedChecksum = c
            return c
        }
    }
}

/// One frame of a multipart message.
public enum Frame: Sendable {
    /// Small bytes, copied into the message.
    case bytes(Foundation.Data)
    /// A bulk buffer handed to libzmq without copying (kept alive until sent).
    case shared(SharedBytes)

    public var count: Int {
        switch self {
        case .bytes(let d): return d.count
        case .shared(let s): return s.count
        }
    }
}

/// A libzmq context: owns the I/O threads. Sockets keep it alive.
public final class ZMQContext: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer

    public init() {
        raw = zmq_ctx_new()
    }

    deinit { zmq_ctx_term(raw) }

    /// libzmq's version, e.g. "4.3.4".
    public static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}

/// A ROUTER (coordinator side: addresses each peer by its routing id) or DEALER (worker side)
/// socket. Not thread-safe: use a socket from one thread at a time.
public final class ZMQSocket {
    public enum Kind { case router, dealer }

    private let context: ZMQContext
    let raw: UnsafeMutableRawPointer
    public let kind: Kind

    public init(_ context: ZMQContext, kind: Kind) throws {
        guard let s = zmq_socket(context.raw, kind == .router ? ZMQ_ROUTER : ZMQ_DEALER) else {
            throw zmqFailure("zmq_socket")
        }
        self.context = context
        raw = s
        self.kind = kind
        try setOption(ZMQ_LINGER, 0)
        if kind == .router { try setOption(ZMQ_ROUTER_MANDATORY, 1) }
    }

    /// A socket of another libzmq type (the ZAP handler's REP socket).
    init(_ context: ZMQContext, rawType: Int32) throws {
        guard let s = zmq_socket(context.raw, rawType) else { throw zmqFailure("zmq_socket") }
        self.context = context
        raw = s
        kind = .dealer
        try setOption(ZMQ_LINGER, 0)
    }

    deinit { zmq_close(raw) }

    func setOption(_ option: Int32, _ value: Int32) throws {
        var v = value
        guard zmq_setsockopt(raw, option, &v, MemoryLayout<Int32>.size) == 0 else {
            throw zmqFailure("zmq_setsockopt(\(option))")
        }
    }

    func setOption(_ option: Int32, bytes: [UInt8]) throws {
        guard zmq_setsockopt(raw, option, bytes, bytes.count) == 0 else { throw zmqFailure("zmq_setsockopt(\(option))") }
    }

    /// Keep-alive pings every `interval` ms; the connection is dropped after `timeout` ms of silence,
    /// here and (through the TTL the pings carry) at the other end.
    public func setHeartbeat(interval: Int, timeout: Int) throws {
        try setOption(ZMQ_HEARTBEAT_IVL, Int32(interval))
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, Int32(timeout))
        try setOption(ZMQ_HEARTBEAT_TTL, Int32(timeout))
    }

    /// Dead-peer detection left to the kernel, for a socket that must not ping (see
    /// `ZMQCoordinatorTransport`): TCP keep-alive probes after `timeout` ms idle (then every second,
    /// 3 unanswered drop the connection), and a connection whose sent data stays unacknowledged for
    /// `timeout` ms is dropped (TCP_USER_TIMEOUT, ZMQ_TCP_MAXRT).
    public func setKernelKeepAlive(timeout: Int) throws {
        try setOption(ZMQ_TCP_KEEPALIVE, 1)
        try setOption(ZMQ_TCP_KEEPALIVE_IDLE, Int32(max(1, timeout / 1000)))
        try setOption(ZMQ_TCP_KEEPALIVE_INTVL, 1)
        try setOption(ZMQ_TCP_KEEPALIVE_CNT, 3)
        try setOption(ZMQ_TCP_MAXRT, Int32(timeout))
    }

    /// The identity a DEALER presents to the ROUTER it connects to.
    public func setRoutingID(_ id: String) throws { try setOption(ZMQ_ROUTING_ID, bytes: Array(id.utf8)) }

    /// Largest message accepted, in bytes; larger ones drop the connection (-1 = no limit).
    public func setMaxMessageSize(_ bytes: Int) throws {
        var v = Int64(bytes)
        guard zmq_setsockopt(raw, ZMQ_MAXMSGSIZE, &v, MemoryLayout<Int64>.size) == 0 else {
            throw zmqFailure("zmq_setsockopt(ZMQ_MAXMSGSIZE)")
        }
    }

    public func bind(_ endpoint: String) throws {
        guard zmq_bind(raw, endpoint) == 0 else {
            throw zmqFailure("cannot bind \(endpoint) (is the port in use, or the address not on this host?)")
        }
    }

    public func connect(_ endpoint: String) throws {
        guard zmq_connect(raw, endpoint) == 0 else { throw zmqFailure("cannot connect to \(endpoint)") }
    }

    /// The endpoint actually bound (resolves `tcp://*:0` to the chosen port).
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        zmq_getsockopt(raw, ZMQ_LAST_ENDPOINT, &buffer, &size)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Bounds the messages queued per peer: `send` outgoing (then a non-blocking send reports
    /// `.backlogged`), `receive` incoming (then libzmq stops reading that peer's connection, so a
    /// flood waits in the sender's kernel buffers, not in our memory).
    public func setHighWaterMarks(send: Int, receive: Int) throws {
        try setOption(ZMQ_SNDHWM, Int32(send))
        try setOption(ZMQ_RCVHWM, Int32(receive))
    }

    /// Sends one multipart message. With `wait` false the send never blocks: a peer whose queue is
    /// at the send high-water mark gets `.backlogged` and nothing is queued.
    @discardableResult
    public func send(_ frames: [Frame], wait: Bool = true) throws -> Delivery {
        for (i, frame) in frames.enumerated() {
            var msg = zmq_msg_t()
            switch frame {
            case .bytes(let d):
                zmq_msg_init_size(&msg, d.count)
                if d.count > 0 { d.withUnsafeBytes { _ = memcpy(zmq_msg_data(&msg), $0.baseAddress!, d.count) } }
            case .shared(let s):
                let hint = Unmanaged.passRetained(s).toOpaque()
                zmq_msg_init_data(&msg, s.pointer, s.count, { _, hint in
                    if let hint { Unmanaged<SharedBytes>.fromOpaque(hint).release() }
                }, hint)
            }
            let flags = (i < frames.count - 1 ? ZMQ_SNDMORE : 0) | (wait ? 0 : ZMQ_DONTWAIT)
            while zmq_msg_send(&msg, raw, flags) < 0 {
                let err = zmq_errno()
                if err == EINTR { continue }
                zmq_msg_close(&msg)
                if err == EHOSTUNREACH { return .unreachable }
                if err == EAGAIN { return .backlogged }
                throw zmqFailure("zmq_msg_send")
            }
        }
        return .sent
    }

    /// One message read from the socket, or why it was refused.
    public enum Incoming {
        case frames([Foundation.Data])
        /// `check` refused frame `frames.count`; the frames before it are given (a ROUTER's first is
        /// the peer id), the refused one and the rest were discarded without being copied.
        case refused(frames: [Foundation.Data], reason: Error)
    }

    /// Waits up to `timeout` ms for a message; nil on timeout. A ROUTER's first frame is the peer id.
    /// Frames are read one at a time: `check(frames so far, size of the next)` runs before each
    /// frame is copied and throws to refuse the message, whose remaining frames are then discarded
    /// without being copied.
    public func receive(timeout: Int, check: ([Foundation.Data], Int) throws -> Void) throws -> Incoming? {
        var item = zmq_pollitem_t(socket: raw, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        let n = zmq_poll(&item, 1, timeout)
        if n < 0 {
            if zmq_errno() == EINTR { return nil }
            throw zmqFailure("zmq_poll")
        }
        guard n > 0 else { return nil }
        var frames: [Foundation.Data] = []
        var refusal: Error?
        while true {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            while zmq_msg_recv(&msg, raw, 0) < 0 {
                guard zmq_errno() == EINTR else { throw zmqFailure("zmq_msg_recv") }
            }
            let size = zmq_msg_size(&msg)
            let more = zmq_msg_more(&msg) != 0  // read before `take` empties the message
            if refusal == nil {
                do {
                    try check(frames, size)
                    frames.append(Self.take(&msg, size: size))
                } catch { refusal = error }
            }
            if !more { break }
        }
        return refusal.map { .refused(frames: frames, reason: $0) } ?? .frames(frames)
    }

    /// A received frame's bytes. Frames of 64 KiB and more (weights, gradients) are not copied: the
    /// Data keeps libzmq's message, which is closed when the Data is freed. `msg` is left empty.
    private static func take(_ msg: inout zmq_msg_t, size: Int) -> Foundation.Data {
        guard size >= 1 << 16 else { return size == 0 ? Foundation.Data() : Foundation.Data(bytes: zmq_msg_data(&msg), count: size) }
        let kept = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        zmq_msg_init(kept)
        zmq_msg_move(kept, &msg)
        return Foundation.Data(bytesNoCopy: zmq_msg_data(kept), count: size, deallocator: .custom { _, _ in
            zmq_msg_close(kept)
            kept.deallocate()
        })
    }

    /// `receive(timeout:check:)` accepting every frame.
    public func receive(timeout: Int) throws -> [Foundation.Data]? {
        guard case .frames(let f)? = try receive(timeout: timeout, check: { _, _ in }) else { return nil }
        return f
    }
}
