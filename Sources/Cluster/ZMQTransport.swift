// The ZeroMQ implementation of the transports: a ROUTER bound by the coordinator, a DEALER per worker.
import Foundation

/// The coordinator's socket: binds `endpoint` (e.g. `tcp://*:5555`) and talks to workers by routing id.
public final class ZMQCoordinatorTransport: CoordinatorTransport {
    private let socket: ZMQSocket
    public var onDropped: ((PeerID, String) -> Void)?
    /// The endpoint actually bound (a `:0` port resolved).
    public let endpoint: String

    /// With `curve`, the socket is a CURVE server: traffic is encrypted and clients are admitted by
    /// the context's ZAP handler (see ``ZAPHandler``).
    /// `maxMessageSize` (bytes) bounds what a peer can make the coordinator allocate: a larger
    /// message drops that peer's connection before any of it is stored.
    public init(context: ZMQContext, bind: String, heartbeat: (interval: Int, timeout: Int) = (1000, 10_000),
                curve: CurveKeyPair? = nil, maxMessageSize: Int = -1) throws {
        socket = try ZMQSocket(context, kind: .router)
        try socket.setHeartbeat(interval: heartbeat.interval, timeout: heartbeat.timeout)
        try socket.setMaxMessageSize(maxMessageSize)
        if let curve { try socket.makeCurveServer(curve) }
        try socket.bind(bind)
        endpoint = socket.lastEndpoint
    }

    public func send(_ message: Message, to peer: PeerID) throws -> Bool {
        try socket.send([.bytes(Foundation.Data(peer.utf8))] + WireCodec.encode(message))
    }

    public func receive(timeout: Int) throws -> (PeerID, Message)? {
        let deadline = Date().addingTimeInterval(Double(timeout) / 1000)
        while true {
            let left = max(0, Int(deadline.timeIntervalSinceNow * 1000))
            guard let frames = try socket.receive(timeout: left) else { return nil }
            guard frames.count >= 2 else { continue }
            let peer = String(decoding: frames[0], as: UTF8.self)
            do { return (peer, try WireCodec.decode(Array(frames.dropFirst()))) } catch {
                onDropped?(peer, "\(error)")
                if left == 0 { return nil }
            }
        }
    }
}

/// A worker's socket: connects to the coordinator and reconnects by itself if the link drops.
public final class ZMQWorkerTransport: WorkerTransport {
    private let socket: ZMQSocket

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
        guard let frames = try socket.receive(timeout: timeout) else { return nil }
        return try WireCodec.decode(frames)
    }
}
