// How coordinator and workers exchange messages: the abstraction, and its in-memory twin used to
// test coordinator and worker logic without sockets (the ZeroMQ one is ZMQTransport.swift).
import Foundation

/// A worker as the coordinator's transport names it (the ZeroMQ routing id).
public typealias PeerID = String

/// What became of a message sent to one peer.
public enum Delivery: Equatable, Sendable {
    case sent
    /// The peer is gone (its connection dropped).
    case unreachable
    /// The peer's send queue is full: it is not reading. Nothing was queued.
    case backlogged
}

/// The coordinator's end: one endpoint, many workers. Sends never block.
public protocol CoordinatorTransport: AnyObject {
    /// Queues a message for one worker without waiting.
    @discardableResult
    func send(_ message: Message, to peer: PeerID) throws -> Delivery
    /// The next well-formed message, waiting up to `timeout` ms. Malformed ones, and any message
    /// that `limits` refuses, are dropped and reported through `onDropped`, never returned.
    func receive(timeout: Int) throws -> (PeerID, Message)?
    var onDropped: ((PeerID, String) -> Void)? { get set }
    /// What the coordinator accepts (kinds, header size, bulk frame sizes).
    var limits: WireLimits { get set }
    /// Peers whose messages are discarded unread (after their routing id) and not reported.
    var muted: Set<PeerID> { get set }
    /// Messages of muted peers discarded so far.
    var discardedFromMuted: Int { get }
}

/// A worker's end: one coordinator.
public protocol WorkerTransport: AnyObject {
    func send(_ message: Message) throws
    /// The next message, waiting up to `timeout` ms; throws a `WireError` for one that is malformed
    /// or that `limits` refuses (the worker logs it and goes on).
    func receive(timeout: Int) throws -> Message?
    /// What the worker accepts; tightened once the welcome says which model it computes.
    var limits: WireLimits { get set }
}

/// An in-process network: a coordinator end and any number of worker ends, with messages encoded
/// and decoded exactly as on the wire (so malformed input behaves the same).
public final class InMemoryNetwork: @unchecked Sendable {
    private let condition = NSCondition()
    private var toCoordinator: [(PeerID, [Foundation.Data])] = []
    private var toWorker: [PeerID: [[Foundation.Data]]] = [:]
    private var gone: Set<PeerID> = []

    public init() {}

    public func coordinator() -> CoordinatorTransport { CoordinatorEnd(self) }
    public func worker(_ id: PeerID) -> WorkerTransport {
        condition.lock(); toWorker[id] = toWorker[id] ?? []; gone.remove(id); condition.unlock()
        return WorkerEnd(self, id)
    }

    /// Simulates a worker process dying: its queue disappears and sends to it fail.
    public func disconnect(_ id: PeerID) {
        condition.lock(); gone.insert(id); toWorker[id] = nil; condition.unlock()
    }

    /// Injects raw frames as if `peer` had sent them (for hostile-input tests).
    public func inject(from peer: PeerID, frames: [Foundation.Data]) {
        condition.lock(); toCoordinator.append((peer, frames)); condition.broadcast(); condition.unlock()
    }

    fileprivate static func flatten(_ frames: [Frame]) -> [Foundation.Data] {
        frames.map { f in
            switch f {
            case .bytes(let d): return d
            case .shared(let s): return s.data
            }
        }
    }

    fileprivate func post(toCoordinator frames: [Foundation.Data], from peer: PeerID) {
        condition.lock(); toCoordinator.append((peer, frames)); condition.broadcast(); condition.unlock()
    }

    fileprivate func post(toWorker peer: PeerID, _ frames: [Foundation.Data]) -> Bool {
        condition.lock(); defer { condition.unlock() }
        guard !gone.contains(peer), toWorker[peer] != nil else { return false }
        toWorker[peer]!.append(frames)
        condition.broadcast()
        return true
    }

    fileprivate func takeForCoordinator(timeout: Int) -> (PeerID, [Foundation.Data])? {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(Double(timeout) / 1000)
        while toCoordinator.isEmpty { if !condition.wait(until: deadline) { return nil } }
        return toCoordinator.removeFirst()
    }

    fileprivate func takeForWorker(_ peer: PeerID, timeout: Int) -> [Foundation.Data]? {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(Double(timeout) / 1000)
        while toWorker[peer]?.isEmpty ?? true { if !condition.wait(until: deadline) { return nil } }
        return toWorker[peer]!.removeFirst()
    }

    private final class CoordinatorEnd: CoordinatorTransport {
        let network: InMemoryNetwork
        var onDropped: ((PeerID, String) -> Void)?
        var limits = WireLimits.any
        var muted: Set<PeerID> = []
        var discardedFromMuted = 0
        init(_ n: InMemoryNetwork) { network = n }
        func send(_ message: Message, to peer: PeerID) throws -> Delivery {
            network.post(toWorker: peer, InMemoryNetwork.flatten(WireCodec.encode(message))) ? .sent : .unreachable
        }
        func receive(timeout: Int) throws -> (PeerID, Message)? {
            let deadline = Date().addingTimeInterval(Double(timeout) / 1000)
            while true {
                let left = max(0, Int(deadline.timeIntervalSinceNow * 1000))
                guard let (peer, frames) = network.takeForCoordinator(timeout: left) else { return nil }
                if muted.contains(peer) { discardedFromMuted += 1; continue }
                do { return (peer, try WireCodec.decode(frames, limits: limits)) } catch { onDropped?(peer, "\(error)") }
            }
        }
    }

    private final class WorkerEnd: WorkerTransport {
        let network: InMemoryNetwork
        let id: PeerID
        var limits = WireLimits.workerBeforeWelcome
        init(_ n: InMemoryNetwork, _ id: PeerID) { network = n; self.id = id }
        func send(_ message: Message) throws {
            network.post(toCoordinator: InMemoryNetwork.flatten(WireCodec.encode(message)), from: id)
        }
        func receive(timeout: Int) throws -> Message? {
            guard let frames = network.takeForWorker(id, timeout: timeout) else { return nil }
            return try WireCodec.decode(frames, limits: limits)
        }
    }
}
