// Runs the built `keypoints` binary as a user would and captures its exit code and output.
import Foundation
import TestSupport
import XCTest

typealias RunResult = ProcessOutput

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

    /// - Parameter environment: variables set for the child beside the inherited ones.
    static func run(_ arguments: [String], environment: [String: String] = [:], file: StaticString = #filePath,
                    line: UInt = #line) throws -> RunResult {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            XCTFail("no keypoints binary at \(binary.path); run scripts/test.sh or swift build first", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return try runChild(binary, arguments, environment: environment.merging(["OMP_WAIT_POLICY": "passive"]) { given, _ in given })
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("keypoints-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
