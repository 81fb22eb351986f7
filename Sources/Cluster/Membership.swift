// Who the coordinator is working with: the workers that said hello, the samples each holds, the
// micro-batch each is computing, what each has done, and the liveness checks that remove the dead ones.
import Foundation
import Training

/// What the coordinator knows of one worker.
struct Peer {
    /// Dataset indices this worker holds (sent once, kept in its memory).
    var holds: Set<Int> = []
    /// The micro-batch it is computing, and since when.
    var assignment: (microBatch: Int, since: Date)?
    /// What it said of itself in its hello.
    var hello: HelloFields?
    var joined = Date(), lastSeen = Date()
    /// Micro-batches computed, those taken over from a removed worker, and their samples and compute seconds.
    var done = 0, tookOver = 0, samples = 0, computeSeconds = 0.0
}

struct Membership {
    private(set) var peers: [PeerID: Peer] = [:]

    var count: Int { peers.count }
    var names: [PeerID] { peers.keys.sorted() }

    func contains(_ name: PeerID) -> Bool { peers[name] != nil }

    /// Adds (or, for a known name that said hello again, replaces) a worker.
    mutating func join(_ name: PeerID, hello: HelloFields? = nil) { peers[name] = Peer(hello: hello) }

    /// Notes that `name` sent something now.
    mutating func seen(_ name: PeerID) { peers[name]?.lastSeen = Date() }

    /// Counts a micro-batch `name` computed.
    mutating func counted(_ name: PeerID, samples: Int, computeSeconds: Double, tookOver: Bool) {
        peers[name]?.done += 1
        peers[name]?.samples += samples
        peers[name]?.computeSeconds += computeSeconds
        if tookOver { peers[name]?.tookOver += 1 }
    }

    /// Every worker as the status page shows it, in name order.
    var statuses: [WorkerStatus] {
        names.compactMap { n in
            peers[n].map { p in
                WorkerStatus(name: n, host: p.hello.map { String($0.host.prefix(64)) } ?? "", pid: Int(p.hello?.pid ?? 0),
                             threads: p.hello?.threads ?? 0, joined: p.joined.timeIntervalSince1970,
                             lastSeen: p.lastSeen.timeIntervalSince1970, microBatchesDone: p.done, microBatchesTakenOver: p.tookOver,
                             imagesPerSecond: p.computeSeconds > 0 ? Double(p.samples) / p.computeSeconds : 0, busy: p.assignment != nil)
            }
        }
    }

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
