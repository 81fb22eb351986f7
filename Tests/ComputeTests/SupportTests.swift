// Checks of the test-support helpers themselves: the tolerance check must reject what it should, and
// the finite-difference helper must reproduce a known gradient.
import XCTest
import Compute
import TestSupport

final class SupportTests: XCTestCase {
    func testMismatchReport() {
        XCTAssertNil(mismatchReport([1, 2, 3] as [Float], [1, 2, 3] as [Double], atol: 0, rtol: 0))
        XCTAssertNil(mismatchReport([1.0005] as [Float], [1] as [Double], atol: 1e-3, rtol: 0))
        XCTAssertNil(mismatchReport([101] as [Float], [100] as [Double], atol: 0, rtol: 0.011))
        XCTAssertNotNil(mismatchReport([101] as [Float], [100] as [Double], atol: 0.5, rtol: 0.001))
        XCTAssertNotNil(mismatchReport([1, 2] as [Float], [1] as [Float], atol: 1, rtol: 1), "count mismatch")
        XCTAssertNotNil(mismatchReport([.nan] as [Float], [0] as [Float], atol: 1, rtol: 1), "NaN is never close")
        let report = mismatchReport([0, 0, 0, 5, 0, 7] as [Float], [0, 0, 0, 0, 0, 0] as [Float],
                                    atol: 1e-3, rtol: 0, shape: [1, 2, 3])
        XCTAssertNotNil(report)
        XCTAssertTrue(report?.contains("2 of 6 elements differ") ?? false, report ?? "")
        XCTAssertTrue(report?.contains("[0, 1, 0]: actual 5.0") ?? false, report ?? "")
        XCTAssertTrue(report?.contains("max |diff| 7.0 at [0, 1, 2]") ?? false, report ?? "")
    }

    func testFiniteDifferencesOfAKnownFunction() {
        // y_i = x_i^2 + 3 x_{i+1} (cyclic): dL/dx_i = 2 x_i r_i + 3 r_{i-1}.
        let x = randomArray(10, seed: 1), r = randomArray(10, seed: 2)
        let fd = finiteDifferenceGradient(of: x, eps: 1e-2, r: r) { v in
            v.indices.map { v[$0] * v[$0] + 3 * v[($0 + 1) % v.count] }
        }
        let exact = x.indices.map { 2 * Double(x[$0]) * Double(r[$0]) + 3 * Double(r[($0 + 9) % 10]) }
        assertClose(fd, exact, atol: 1e-4, rtol: 1e-3)
    }

    func testRandomArraysAreSeededAndAvoidPoints() {
        XCTAssertEqual(randomArray(5, seed: 3), randomArray(5, seed: 3))
        XCTAssertNotEqual(randomArray(5, seed: 3), randomArray(5, seed: 4))
        let v = randomArray(1000, seed: 5, in: -1...7, avoiding: [0, 6], margin: 0.1)
        XCTAssertTrue(v.allSatisfy { abs($0) >= 0.1 && abs($0 - 6) >= 0.1 && $0 >= -1 && $0 <= 7 })
    }
}
