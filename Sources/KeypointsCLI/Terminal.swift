// stdout through C stdio, kept apart so that Glibc's globals are imported @preconcurrency here only.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

enum Terminal {
    /// True when stdout is a terminal.
    static var isTerminal: Bool { isatty(STDOUT_FILENO) != 0 }

    /// The terminal's width in columns (100 when it cannot be read).
    static var columns: Int {
        var size = winsize()
        return ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 100
    }

    /// Writes `text` to stdout as it is (no newline added); `flush` pushes it out at once.
    static func write(_ text: String, flush: Bool = false) {
        fputs(text, stdout)
        if flush { fflush(stdout) }
    }
}

/// Flush stdout at every newline, so progress lines appear at once even through a pipe or a log
/// collector (stdio would otherwise buffer them in 4 KiB blocks).
func useLineBufferedOutput() {
    setvbuf(stdout, nil, _IOLBF, 0)
}
