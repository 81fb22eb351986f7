// Runs the built `keypoints` binary as a user would and captures its exit code and output.
import Foundation
import XCTest

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum BinaryRunner {
    /// The binary under test: $KEYPOINTS_BIN (scripts/test.sh points it at the release build),
    /// else the debug build next to this test bundle.
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["KEYPOINTS_BIN"] { return URL(fileURLWithPath: path) }
        // On Linux the test runner's bundle URL is the build folder itself; elsewhere it is the .xctest.
        let here = Bundle.main.bundleURL
        let candidates = [here.appendingPathComponent("keypoints"),
                          here.deletingLastPathComponent().appendingPathComponent("keypoints")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    static func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            XCTFail("no keypoints binary at \(binary.path); run scripts/test.sh or swift build first", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["OMP_WAIT_POLICY"] = "passive"
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting so a chatty child never blocks on a full pipe.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return RunResult(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("keypoints-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
