// Runs a child process to completion, capturing its exit status, stdout and stderr (for the tests
// that run the built binary, shell commands and the Python check scripts).
import Foundation

/// What a finished child process left: its exit status (or signal number) and its output.
public struct ProcessOutput: Sendable {
    public var status: Int32
    /// True when the child was ended by a signal (`status` is then its number): a trap or a crash.
    public var killedBySignal = false
    public var stdout: String
    public var stderr: String
}

/// Runs `executable` with `arguments`, with our environment plus `environment`, and waits for it.
/// stdout and stderr are drained at the same time, so a child that fills either pipe never blocks.
public func runChild(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    final class Box: @unchecked Sendable { var data = Data() }
    let errors = Box(), drained = DispatchGroup()
    DispatchQueue.global().async(group: drained) { errors.data = err.fileHandleForReading.readDataToEndOfFile() }
    let output = out.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    return ProcessOutput(status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
                         stdout: String(decoding: output, as: UTF8.self), stderr: String(decoding: errors.data, as: UTF8.self))
}
