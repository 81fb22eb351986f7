// Who the coordinator is working with: the workers that said hello, the samples each holds, the
// micro-batches each holds (usually two: one computing, one decoding behind it, which may be the
// next step's; more when this step's work is requeued to a worker holding the next's), what each has
// done, and the liveness checks that remove the dead ones.
import Foundation
import Training

/// What the coordinator knows of one worker.
struct Peer {
    /// Dataset indices this worker holds (sent once, kept in its memory).
    var holds: Set<Int> = []
    /// The micro-batches it was given and has not answered, with their steps, in the order it
    /// computes them (this step's, then the next step's handed out ahead); `since` is when each
    /// became the one it works on (the first: handed out, or its step started; the next: its
    /// predecessor's answer came), so a round trip is one micro-batch's wait, not two.
    var assignments: [Assignment] = []
    /// What it said of itself in its hello.
    var hello: HelloFields?
    var joined = Date(), lastSeen = Date()
    /// Micro-batches computed, those taken over from a removed worker, and their samples and compute seconds.
    var done = 0, tookOver = 0, samples = 0, computeSeconds = 0.0
}

/// One micro-batch given to a worker: its step, its index in that step, and since when it counts.
struct Assignment: Equatable {
    var step: Int
    var microBatch: Int
    var since: Date
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
                             imagesPerSecond: p.computeSeconds > 0 ? Double(p.samples) / p.computeSeconds : 0, busy: !p.assignments.isEmpty)
            }
        }
    }

    /// Removes a worker; returns the micro-batches it held (of any step), to be given to others.
    @discardableResult
    mutating func remove(_ name: PeerID) -> [Assignment] { peers.removeValue(forKey: name)?.assignments ?? [] }

    /// Workers holding exactly `count` micro-batches, of `step` or (nil) of any step, in name order.
    func holding(_ count: Int, of step: Int? = nil) -> [PeerID] {
        names.filter { n in
            guard let a = peers[n]?.assignments else { return false }
            return (step.map { s in a.filter { $0.step == s }.count } ?? a.count) == count
        }
    }

    /// Workers with micro-batches, with them: `name (micro-batch 3)`, `name (micro-batches 3, 5)`.
    var busy: [String] {
        names.compactMap { n in
            guard let a = peers[n]?.assignments, !a.isEmpty else { return nil }
            return "\(n) (micro-batch\(a.count > 1 ? "es" : "") \(a.map { String($0.microBatch) }.joined(separator: ", ")))"
        }
    }

    /// The micro-batches of `step` that `name` holds, in the order it computes them.
    func assignments(of name: PeerID, step: Int) -> [Int] {
        peers[name]?.assignments.filter { $0.step == step }.map(\.microBatch) ?? []
    }

    func holds(_ name: PeerID) -> Set<Int> { peers[name]?.holds ?? [] }

    mutating func sent(_ indices: [Int], to name: PeerID) { peers[name]?.holds.formUnion(indices) }

    /// Gives `name` one more micro-batch, of `step`: after those of its step and before those of
    /// later steps (a micro-batch of this step requeued from a worker that left is computed before
    /// the next step's work handed out ahead, as the worker's pipeline runs it).
    mutating func assign(_ microBatch: Int, step: Int, to name: PeerID) {
        guard let a = peers[name]?.assignments else { return }
        let at = a.firstIndex { $0.step > step } ?? a.count
        peers[name]?.assignments.insert(Assignment(step: step, microBatch: microBatch, since: Date()), at: at)
    }

    /// `microBatch` of `step` if `name` holds it: removed, returning the seconds since it became
    /// the one `name` works on; the next one's clock starts now.
    mutating func complete(_ microBatch: Int, step: Int, by name: PeerID) -> Double? {
        guard let a = peers[name]?.assignments,
              let i = a.firstIndex(where: { $0.microBatch == microBatch && $0.step == step }) else { return nil }
        let now = Date()
        peers[name]?.assignments.remove(at: i)
        if i == 0, !(peers[name]?.assignments.isEmpty ?? true) { peers[name]?.assignments[0].since = now }
        return now.timeIntervalSince(a[i].since)
    }

    /// Forgets every assignment (a new step starts that nobody was given work of).
    mutating func clearAssignments() { for n in peers.keys { peers[n]?.assignments = [] } }

    /// Forgets every assignment except those of `step` (which starts now): nobody computes an
    /// earlier step's micro-batch any more (a copy given to a second worker was answered by the first).
    mutating func keepAssignments(of step: Int) {
        for n in peers.keys { peers[n]?.assignments.removeAll { $0.step != step } }
    }

    /// Restarts the clock of every worker's first micro-batch (a step whose work was handed out
    /// ahead starts now: the wait for the update and the weights is not the worker's).
    mutating func restartClocks() {
        let now = Date()
        for n in peers.keys where !(peers[n]?.assignments.isEmpty ?? true) { peers[n]?.assignments[0].since = now }
    }

    /// Workers whose current micro-batch of `step` has taken longer than `deadline` seconds (work
    /// of the next step, handed out ahead, waits for its weights and is not late).
    func overdue(deadline: Double, step: Int) -> [PeerID] {
        names.filter { n in
            peers[n]?.assignments.first.map { $0.step == step && Date().timeIntervalSince($0.since) > deadline } ?? false
        }
    }
}
