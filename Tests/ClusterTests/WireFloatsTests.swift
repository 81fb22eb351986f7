// Parameter buffers as wire frames at each precision: sizes, round trips within the format's
// rounding, the same bits for the same values, and frames no encoder wrote refused.
import Cluster
import Compute
import Foundation
import Model
import Training
import XCTest

final class WireFloatsTests: XCTestCase {
    /// Two tensors of very different magnitudes (a weight ~1, a bias ~1e-6): fp16 scales each alone.
    private func layout() -> ParameterLayout {
        var layout = ParameterLayout()
        layout.addParameter("a.weight", [64, 3], .convolutionWeight)
        layout.addParameter("a.bias", [5], .bias)
        return layout
    }

    private func values() -> [Float] {
        var rng = SplitMix64(seed: 9)
        let weight = (0..<192).map { _ in Float.random(in: -2...2, using: &rng) }
        let bias = (0..<5).map { _ in Float.random(in: -1e-6...1e-6, using: &rng) }
        return weight + bias
    }

    func testFrameSizes() {
        let l = layout()
        XCTAssertEqual(WireFloats(precision: .f32, layout: l).frameBytes, 197 * 4)
        XCTAssertEqual(WireFloats(precision: .bf16, layout: l).frameBytes, 197 * 2)
        XCTAssertEqual(WireFloats(precision: .fp16, layout: l).frameBytes, 2 * 4 + 197 * 2)
        for p in WirePrecision.allCases {
            let wire = WireFloats(precision: p, layout: l)
            XCTAssertEqual(wire.frame(values()).count, wire.frameBytes, "\(p)")
        }
    }

    func testRoundTripsWithinEachFormatsRounding() throws {
        let x = values(), l = layout()
        XCTAssertEqual(WireFloats(precision: .f32, layout: l).floats(WireFloats(precision: .f32, layout: l).frame(x)), x)
        let bf16 = WireFloats(precision: .bf16, layout: l)
        let b = try XCTUnwrap(bf16.floats(bf16.frame(x)))
        for i in x.indices { XCTAssertLessThanOrEqual(abs(b[i] - x[i]), abs(x[i]) * 0x1p-8, "bf16 value \(i)") }
        let fp16 = WireFloats(precision: .fp16, layout: l)
        let h = try XCTUnwrap(fp16.floats(fp16.frame(x)))
        // Each tensor keeps 11 bits relative to its own largest value: the 1e-6 biases too.
        let largest = [x[0..<192].map(abs).max()!, x[192...].map(abs).max()!]
        for i in x.indices {
            XCTAssertLessThanOrEqual(abs(h[i] - x[i]), largest[i < 192 ? 0 : 1] * 0x1p-11, "fp16 value \(i): \(x[i]) -> \(h[i])")
        }
        XCTAssertTrue(h[192...].allSatisfy { $0 != 0 }, "fp16 without a scale would flush the biases to zero")
    }

    func testTheSameValuesGiveTheSameBits() {
        for p in WirePrecision.allCases {
            let wire = WireFloats(precision: p, layout: layout())
            XCTAssertEqual(wire.frame(values()).data, wire.frame(values()).data, "\(p)")
        }
    }

    func testFramesNoEncoderWroteAreRefused() {
        let l = layout()
        for p in WirePrecision.allCases {
            let wire = WireFloats(precision: p, layout: l)
            XCTAssertNil(wire.floats(.bytes(Foundation.Data(count: wire.frameBytes - 2))), "\(p): short frame")
        }
        // An fp16 frame whose scale is not a positive power of two (3, then 0, then NaN).
        let fp16 = WireFloats(precision: .fp16, layout: l)
        for bad: Float in [3, 0, .nan] {
            var bytes = fp16.frame(values()).data
            withUnsafeBytes(of: bad.bitPattern.littleEndian) { bytes.replaceSubrange(0..<4, with: $0) }
            XCTAssertNil(fp16.floats(.bytes(bytes)), "scale \(bad)")
        }
    }
}
