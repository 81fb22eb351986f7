// How the coordinator's peers behave: malformed messages and hellos per peer in a sliding window,
// and which peers are muted (their messages discarded unread) until when. Keeps a hostile or broken
// peer from costing more than a bounded amount of work and log.
import Foundation

struct PeerConduct {
    /// Malformed messages a peer may send within `window` before it is muted.
    var malformedAllowed = 10
    /// Hellos a peer may send within `window` before it is muted (a worker says one when it
    /// starts and one per rejoin; a worker restarted by a supervisor after every crash stays under this).
    var hellosAllowed = 10
    /// Seconds over which malformed messages and hellos are counted.
    var window: Double = 60
    /// Seconds a peer stays muted.
    var muteSeconds: Double = 60
    /// Peers tracked at most; past this the oldest records are forgotten (a flood of new ids
    /// cannot grow this table without bound).
    var trackedPeers = 4096

    private var malformed: [PeerID: [Date]] = [:]
    private var hellos: [PeerID: [Date]] = [:]
    private(set) var mutedUntil: [PeerID: Date] = [:]

    /// Records a malformed message from `peer`; true when that mutes it.
    mutating func malformedMessage(from peer: PeerID, at now: Date = Date()) -> Bool {
        let count = Self.record(&malformed, peer, now, window: window, tracked: trackedPeers)
        return count > malformedAllowed && mute(peer, at: now)
    }

    /// Records a hello from `peer`; true when that is one too many (the peer is then muted).
    mutating func hello(from peer: PeerID, at now: Date = Date()) -> Bool {
        let count = Self.record(&hellos, peer, now, window: window, tracked: trackedPeers)
        return count > hellosAllowed && mute(peer, at: now)
    }

    /// Mutes `peer` for `muteSeconds`; true (for chaining).
    @discardableResult
    mutating func mute(_ peer: PeerID, at now: Date = Date()) -> Bool {
        mutedUntil[peer] = now.addingTimeInterval(muteSeconds)
        return true
    }

    /// The peers muted now; forgets expired mutes.
    mutating func muted(at now: Date = Date()) -> Set<PeerID> {
        mutedUntil = mutedUntil.filter { $0.value > now }
        return Set(mutedUntil.keys)
    }

    /// Adds `now` to `peer`'s times, drops those older than the window; returns how many remain.
    private static func record(_ table: inout [PeerID: [Date]], _ peer: PeerID, _ now: Date, window: Double, tracked: Int) -> Int {
        if table[peer] == nil && table.count >= tracked {
            table = table.filter { $0.value.last.map { now.timeIntervalSince($0) < window } ?? false }
            if table.count >= tracked { table.removeAll() }
        }
        var times = (table[peer] ?? []).filter { now.timeIntervalSince($0) < window }
        times.append(now)
        table[peer] = times
        return times.count
    }
}
