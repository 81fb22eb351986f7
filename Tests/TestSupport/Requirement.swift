// What a test does when the machine lacks something its real check needs (root, network
// namespaces, tmpfs, the Python venv): in CI (`CI=true`) the test fails with the reason, because a
// check that cannot run must not look green; elsewhere it is skipped, saying so.
import Foundation
import XCTest

/// A test's real check could not run in CI: the thrown error fails the test with `description`.
public struct MissingRequirement: Error, CustomStringConvertible {
    public let description: String
}

public enum Requirement {
    /// True when the suite runs in CI (`CI=true`, as `.ci/run` and most CI services set it).
    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The error to throw when `reason` keeps a test from its real check: a failure in CI, a skip elsewhere.
    public static func unavailable(_ reason: String) -> Error {
        inCI ? MissingRequirement(description: "CI=true but \(reason): the machine CI runs on must provide this")
             : XCTSkip(reason)
    }
}
