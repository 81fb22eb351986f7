// Terminal output settings shared by the subcommands.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Flush stdout at every newline, so progress lines appear at once even through a pipe or a log
/// collector (stdio would otherwise buffer them in 4 KiB blocks).
func useLineBufferedOutput() {
    setvbuf(stdout, nil, _IOLBF, 0)
}
