// What a person or a log collector reads of a long-running command: swift-log levels (`--quiet`
// keeps warnings and results, `--verbose` adds per-step detail), UTC timestamps on every line when
// stdout is not a terminal, and on a terminal a one-line progress bar redrawn in place.
import ArgumentParser
import Foundation
import Logging

/// `--quiet` and `--verbose`, shared by `train`, `coordinator` and `worker`.
struct LogOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print only warnings, errors and the run's results (no progress or epoch lines).")
    var quiet = false
    @Flag(name: .shortAndLong, help: "Also print every step's loss and time split (compute, transfer, update).")
    var verbose = false

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose cannot go together") }
    }

    var level: Logger.Level { quiet ? .notice : (verbose ? .debug : .info) }
}

/// The process's console: one lock around stdout, so log lines and the progress bar never interleave.
final class Console: @unchecked Sendable {
    static let shared = Console()
    /// True when stdout is a terminal: no timestamps, and the progress bar is drawn.
    let isTerminal = Terminal.isTerminal
    private let lock = NSLock()
    private var level = Logger.Level.info
    private var barShown = false
    private var lastBar = Date.distantPast
    private let stamp: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    /// The logger of this process; `configure` sets its level.
    private(set) var logger = Logger(label: "keypoints") { _ in ConsoleLogHandler() }

    /// Sets the level (from `--quiet`/`--verbose`) and line-buffers stdout.
    func configure(_ options: LogOptions) {
        useLineBufferedOutput()
        lock.withLock { level = options.level }
        logger.logLevel = options.level
    }

    /// True when lines of `level` are printed.
    func shows(_ level: Logger.Level) -> Bool { lock.withLock { level >= self.level } }

    /// One log line: after clearing the progress bar, with a UTC timestamp and, for warnings and
    /// errors that do not say so themselves, the level.
    func write(_ level: Logger.Level, _ text: String) {
        lock.withLock {
            if barShown { Terminal.write("\r\u{1B}[K"); barShown = false }
            let said = text.hasPrefix("warning") || text.hasPrefix("error") || text.hasPrefix("note")
            let tag = level >= .warning && !said ? "\(level >= .error ? "error" : "warning"): " : ""
            let prefix = isTerminal ? "" : stamp.string(from: Date()) + " "
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                Terminal.write(prefix + tag + line + "\n")
            }
        }
    }

    /// Redraws the progress bar (terminal only, at most 10 times a second unless `force`).
    func progress(_ line: String, force: Bool = false) {
        guard isTerminal, shows(.info) else { return }
        lock.withLock {
            let now = Date()
            guard force || now.timeIntervalSince(lastBar) >= 0.1 else { return }
            lastBar = now
            Terminal.write("\r\u{1B}[K" + String(line.prefix(max(20, Terminal.columns - 1))), flush: true)
            barShown = true
        }
    }
}

/// swift-log's handler for `Console`.
struct ConsoleLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) { Console.shared.write(event.level, "\(event.message)") }
}

/// Logs a line from a layer below the CLI (which says "warning: ..." itself where it warns): its
/// level is read from that prefix.
func say(_ text: String) {
    let logger = Console.shared.logger
    if text.hasPrefix("warning") { logger.warning("\(text)") } else if text.hasPrefix("error") { logger.error("\(text)") } else {
        logger.info("\(text)")
    }
}
