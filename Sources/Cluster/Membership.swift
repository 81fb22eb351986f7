// Who the coordinator is working with: the workers that said hello, the samples each holds, the
// micro-batch each is computing, and the liveness checks that remove the dead ones.
import Foundation

/// What the coordinator knows of one worker.
struct Peer {
    /// Dataset indices this worker holds (sent once, kept in its memory).
    var holds: Set<Int> = []
    /// The micro-batch it is computing, and since when.
    var assignment: (microBatch: Int, since: Date)?
}

struct Membership {
    private(set) var peers: [PeerID: Peer] = [:]

    var count: Int { peers.count }
    var names: [PeerID] { peers.keys.sorted() }

    func contains(_ name: PeerID) -> Bool { peers[name] != nil }

    /// Adds (or, for a known name that said hello again, replaces) a worker.
    mutating func join(_ name: PeerID) { peers[name] = Peer() }

    /// Removes a worker; returns the micro-batch it held, to be given to another.
    @discardableResult
    mutating func remove(_ name: PeerID) -> Int? { peers.removeValue(forKey: name)?.assignment?.microBatch }

    /// Workers with no micro-batch, in name order.
    var idle: [PeerID] { names.filter { peers[$0]?.assignment == nil } }

    /// Workers computing a micro-batch, with it: `name (micro-batch 3)`.
    var busy: [String] {
        names.compactMap { n in peers[n]?.assignment.map { "\(n) (micro-batch \($0.microBatch))" } }
    }

    /// The micro-batch `name` is computing, if any.
    func assignment(of name: PeerID) -> Int? { peers[name]?.assignment?.microBatch }

    func holds(_ name: PeerID) -> Set<Int> { peers[name]?.holds ?? [] }

    mutating func sent(_ indices: [Int], to name: PeerID) { peers[name]?.holds.formUnion(indices) }

    mutating func assign(_ microBatch: Int, to name: PeerID) { peers[name]?.assignment = (microBatch, Date()) }

    /// The assignment of `name` if it is `microBatch`; cleared, returning its round-trip seconds.
    mutating func complete(_ microBatch: Int, by name: PeerID) -> Double? {
        guard let a = peers[name]?.assignment, a.microBatch == microBatch else { return nil }
        peers[name]?.assignment = nil
        return Date().timeIntervalSince(a.since)
    }

    /// Forgets every assignment (a new step starts).
    mutating func clearAssignments() { for n in peers.keys { peers[n]?.assignment = nil } }

    /// Workers that have held their micro-batch longer than `deadline` seconds.
    func overdue(deadline: Double) -> [PeerID] {
        names.filter { n in peers[n]?.assignment.map { Date().timeIntervalSince($0.since) > deadline } ?? false }
    }
}
