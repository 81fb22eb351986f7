// Saved models read by another implementation: the Python safetensors library must see exactly the
// tensors we wrote (names, shapes, values bit for bit, sums), via scripts/check-safetensors.py.
import XCTest
import Compute
import Foundation
import Model
import TestSupport
import ModelFiles

final class SafeTensorsInteropTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    func testPythonSafetensorsReadsASavedModel() throws {
        _ = try PythonScripts.interpreter()  // skips, saying how to get the Python tools, when absent
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("SafeTensorsInterop-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let network = try smallNetworkWithStatistics(seed: 11)
        try SavedModel.save(network, to: directory)

        // What we wrote, per tensor: shape, float64 sum, and the first and last values as bit patterns.
        let specs = network.store.layout.parameters + network.store.layout.statistics
        var tensors: [String: Any] = [:]
        for spec in specs {
            let values = try XCTUnwrap(network.store.values(spec.name))
            tensors[spec.name] = ["shape": spec.shape, "sum": values.reduce(0.0) { $0 + Double($1) },
                                  "first_bits": values.prefix(4).map(\.bitPattern),
                                  "last_bits": values.suffix(2).map(\.bitPattern)] as [String: Any]
        }
        XCTAssertEqual(tensors.count, 27 * 5 + 4, "27 conv units (weight + 4 BN tensors) and the head's 4 tensors")
        func writeExpected(_ tensors: [String: Any], to name: String) throws -> String {
            let url = directory.appendingPathComponent(name)
            let json = ["metadata": ["format": "keypoints-model", "architecture": "mobilenet_v1"], "tensors": tensors] as [String: Any]
            try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]).write(to: url)
            return url.path
        }

        let check = try PythonScripts.run("check-safetensors.py", [directory.path, try writeExpected(tensors, to: "expected.json")])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.contains("check-safetensors: OK") && check.output.contains("139 tensors"), check.output)

        // The check has teeth: one changed value is found and named.
        var wrong = tensors
        var entry = try XCTUnwrap(wrong["backbone.conv_pw_7_bn.running_var"] as? [String: Any])
        var bits = try XCTUnwrap(entry["first_bits"] as? [UInt32])
        bits[0] ^= 1
        entry["first_bits"] = bits
        wrong["backbone.conv_pw_7_bn.running_var"] = entry
        let refused = try PythonScripts.run("check-safetensors.py", [directory.path, try writeExpected(wrong, to: "wrong.json")])
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.output.contains("backbone.conv_pw_7_bn.running_var: first values"), refused.output)
    }
}
