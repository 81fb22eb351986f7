// Runs the repository's Python check scripts (scripts/check-*.py) with the venv Python that
// scripts/python-env.sh makes; without it, tests that need it fail in CI and are skipped elsewhere.
import Foundation
import XCTest

public enum PythonScripts {
    /// The repository root, found from this file's own path (Tests/TestSupport/PythonScripts.swift).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// $KEYPOINTS_PYTHON (set by scripts/test.sh from scripts/python-env.sh), or `Requirement.unavailable` saying how
    /// to get it.
    public static func interpreter() throws -> String {
        guard let python = ProcessInfo.processInfo.environment["KEYPOINTS_PYTHON"], !python.isEmpty else {
            throw Requirement.unavailable("KEYPOINTS_PYTHON is not set, so the Python cross-check (numpy, onnx, onnxruntime, safetensors) "
                          + "is skipped; run ./scripts/test.sh, or export KEYPOINTS_PYTHON=$(scripts/python-env.sh)")
        }
        return python
    }

    /// Runs `scripts/<script>` with `arguments`; returns its exit status and its stdout and stderr
    /// together (in that order).
    public static func run(_ script: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let script = repositoryRoot.appendingPathComponent("scripts/\(script)").path
        let r = try runChild(URL(fileURLWithPath: try interpreter()), [script] + arguments, environment: ["OMP_WAIT_POLICY": "passive"])
        return (r.status, r.stdout + r.stderr)
    }
}
