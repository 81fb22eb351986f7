// How often a flood of the same kind of event reaches the log: each of the first few on its own,
// then one summary line per interval, so that a hostile peer cannot fill the log.
import Foundation

struct LogThrottle {
    /// Events logged one by one before summaries take over.
    let first: Int
    /// Seconds between summary lines.
    let interval: Double
    /// Events recorded so far.
    private(set) var total = 0
    private var pending = 0
    private var since = Date()

    init(first: Int, interval: Double = 10) {
        self.first = first
        self.interval = interval
    }

    /// What to log for an event just recorded.
    enum Line {
        /// Log this event on its own.
        case event
        /// Log a summary: `count` events, this one the latest, in the last `seconds`.
        case summary(count: Int, seconds: Int)
    }

    /// Records one event; nil when it stays unlogged for now.
    mutating func record() -> Line? {
        total += 1
        if total <= first { return .event }
        pending += 1
        let seconds = Date().timeIntervalSince(since)
        guard seconds >= interval else { return nil }
        defer { pending = 0; since = Date() }
        return .summary(count: pending, seconds: Int(seconds))
    }
}
