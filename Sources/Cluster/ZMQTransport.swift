// The ZeroMQ implementation of the transports: a ROUTER bound by the coordinator, a DEALER per worker.
import Foundation

/// The coordinator's socket: binds `endpoint` (e.g. `tcp://*:5555`) and talks to workers by routing id.
/// Its sends never block, and what a peer can make it hold is bounded: at most `receiveQueue`
/// messages per connection wait in libzmq, no frame is larger than `limits` allows for its kind,
/// and a refused message's bulk is discarded without being copied.
public final class ZMQCoordinatorTransport: CoordinatorTransport {
    private let socket: ZMQSocket
    public var onDropped: ((PeerID, String) -> Void)?
    /// What is admitted, checked frame by frame. The largest frame libzmq accepts (ZMQ_MAXMSGSIZE)
    /// is fixed from the `limits` given at init: libzmq copies socket options into the listener
    /// when it binds, so a later change would not reach new connections.
    public var limits: WireLimits
    public var muted: Set<PeerID> = []
    public private(set) var discardedFromMuted = 0
    /// The endpoint actually bound (a `:0` port resolved).
    public let endpoint: String

    /// Routing ids longer than this are refused (ZeroMQ allows 255 bytes; worker names are short).
    static let routingIDBytes = 255

    /// With `curve`, the socket is a CURVE server: traffic is encrypted and clients are admitted by
    /// the context's ZAP handler (see ``ZAPHandler``). `limits` is what workers may send (see
    /// `WireLimits.coordinator(for:)`); a frame larger than its largest entry drops the peer's
    /// connection inside libzmq before it is stored. `sendQueue` and `receiveQueue` are the
    /// high-water marks, in messages per peer.
    ///
    /// The ROUTER sends no ZeroMQ pings of its own. libzmq 4.3.4 (Debian 12's, and still so upstream)
    /// aborts the process when a ping timer fires on a connection whose input was stopped at the
    /// receive high-water mark and which then failed (`Assertion failed: !_io_error`,
    /// stream_engine_base.cpp:331): a peer that floods and hangs up could crash the coordinator.
    /// A silent worker is still found: workers ping with a TTL of `heartbeat.timeout`, after which
    /// libzmq drops their connection here; other peers are dropped by TCP keep-alive and the
    /// unacknowledged-data timeout, both after `heartbeat.timeout` ms (`heartbeat.interval` is unused).
    public init(context: ZMQContext, bind: String, heartbeat: (interval: Int, timeout: Int) = (1000, 10_000),
                curve: CurveKeyPair? = nil, limits: WireLimits = .any, sendQueue: Int = 16, receiveQueue: Int = 8) throws {
        socket = try ZMQSocket(context, kind: .router)
        self.limits = limits
        try socket.setKernelKeepAlive(timeout: heartbeat.timeout)
        try socket.setHighWaterMarks(send: sendQueue, receive: receiveQueue)
        try socket.setMaxMessageSize(Self.largestFrame(limits))
        if let curve { try socket.makeCurveServer(curve) }
        try socket.bind(bind)
        endpoint = socket.lastEndpoint
    }

    /// The largest single frame `limits` lets any kind carry, plus 64 KiB for what CURVE adds to a
    /// frame on the wire (libzmq checks the encrypted size); -1: no limit.
    static func largestFrame(_ limits: WireLimits) -> Int {
        var largest = limits.headerBytes
        for rule in limits.kinds.values {
            switch rule {
            case .none: break
            case .oneOf(let lists): largest = max(largest, lists.joined().max() ?? 0)
            case .upTo(_, let bytesEach): largest = max(largest, bytesEach)
            }
        }
        return largest >= Int(Int64.max) - (64 << 10) || largest < 0 ? -1 : largest + (64 << 10)
    }

    public func send(_ message: Message, to peer: PeerID) throws -> Delivery {
        try socket.send([.bytes(Foundation.Data(peer.utf8))] + WireCodec.encode(message), wait: false)
    }

    /// A muted peer's message, refused at its routing id.
    private struct Muted: Error {}

    public func receive(timeout: Int) throws -> (PeerID, Message)? {
        let deadline = Date().addingTimeInterval(Double(timeout) / 1000)
        while true {
            let left = max(0, Int(deadline.timeIntervalSinceNow * 1000))
            var admission = WireAdmission(limits)
            let incoming = try socket.receive(timeout: left) { [muted] frames, size in
                guard !frames.isEmpty else {
                    guard size > 0, size <= Self.routingIDBytes else { throw WireError.tooShort }
                    return
                }
                if frames.count == 1 {
                    guard !muted.contains(String(decoding: frames[0], as: UTF8.self)) else { throw Muted() }
                } else if frames.count == 2 {
                    try admission.read(header: frames[1])
                }
                try admission.admit(size: size)
            }
            switch incoming {
            case nil: return nil
            case .frames(let frames)?:
                let peer = String(decoding: frames[0], as: UTF8.self)
                // decode checks the whole message again (a header-only message is first checked here).
                do { return (peer, try WireCodec.decode(Array(frames.dropFirst()), limits: limits)) } catch {
                    onDropped?(peer, "\(error)")
                }
            case .refused(let frames, let reason)?:
                if reason is Muted {
                    discardedFromMuted += 1
                } else if let id = frames.first {
                    onDropped?(String(decoding: id, as: UTF8.self), "\(reason)")
                }
            }
            if left == 0 { return nil }
        }
    }
}

/// A worker's socket: connects to the coordinator and reconnects by itself if the link drops.
public final class ZMQWorkerTransport: WorkerTransport {
    private let socket: ZMQSocket
    public var limits = WireLimits.workerBeforeWelcome

    /// With `curve`, the worker authenticates with its key pair and accepts only a coordinator
    /// holding the secret of `serverKey`.
    public init(context: ZMQContext, connect: String, id: PeerID, heartbeat: (interval: Int, timeout: Int) = (1000, 10_000),
                curve: (keys: CurveKeyPair, serverKey: String)? = nil) throws {
        socket = try ZMQSocket(context, kind: .dealer)
        try socket.setRoutingID(id)
        try socket.setHeartbeat(interval: heartbeat.interval, timeout: heartbeat.timeout)
        if let curve { try socket.makeCurveClient(curve.keys, serverKey: curve.serverKey) }
        try socket.connect(connect)
    }

    public func send(_ message: Message) throws { try socket.send(WireCodec.encode(message)) }

    public func receive(timeout: Int) throws -> Message? {
        var admission = WireAdmission(limits)
        let incoming = try socket.receive(timeout: timeout) { frames, size in
            if frames.count == 1 { try admission.read(header: frames[0]) }
            try admission.admit(size: size)
        }
        switch incoming {
        case nil: return nil
        case .frames(let frames)?: return try WireCodec.decode(frames, limits: limits)
        case .refused(_, let reason)?: throw reason
        }
    }
}
