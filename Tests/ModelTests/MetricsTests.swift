// Keypoint metrics (RMSE, mean error, NME, PCK) against hand-computed values.
import XCTest
import Model
import TestSupport

final class MetricsTests: XCTestCase {
    func testTwoKeypointExample() {
        // Frame 100 px, diagonal 100 sqrt(2) = 141.421356 px. Errors in pixels:
        //   keypoint 1: (0.53, 0.54) vs (0.50, 0.50) -> (3, 4), distance 5;
        //   keypoint 2: (0.20, 0.10) vs (0.10, 0.10) -> (10, 0), distance 10;
        //   keypoint 3: unlabelled, a huge error that must not count.
        // RMSE sqrt((25 + 100) / 2) = 7.9056942; mean 7.5; NME 7.5 / 141.421356 = 0.0530330;
        // PCK@0.05 (7.0711 px): only keypoint 1 -> 0.5; PCK@0.1 (14.142 px): both -> 1.
        let m = KeypointMetrics(predictions: [0.53, 0.54, 0.20, 0.10, 5, 5],
                                targets: [0.50, 0.50, 0.10, 0.10, 0, 0],
                                mask: [1, 1, 0], size: 100)
        XCTAssertEqual(m.count, 2)
        assertClose([m.rmse, m.meanError, m.nme, m.pck05, m.pck10],
                    [7.9056942, 7.5, 0.0530330, 0.5, 1], atol: 1e-5, rtol: 1e-5, "rmse, mean, nme, pck05, pck10")
        XCTAssertEqual(m.summary, "rmse 7.91 px, mean 7.50 px, NME 0.0530, PCK@0.05 50.0%, PCK@0.1 100.0%")
    }

    func testKeypointsOfSeveralSamples() {
        // N = 2, K = 1 each; errors 6 px (x) and 8 px (y) in a 50 px frame (diagonal 70.71 px).
        let m = KeypointMetrics(predictions: [0.62, 0.5, 0.5, 0.66], targets: [0.5, 0.5, 0.5, 0.5],
                                mask: [1, 1], size: 50)
        // RMSE sqrt((36 + 64) / 2) = 7.0710678; mean 7; PCK@0.05 (3.536 px) 0; PCK@0.1 (7.071 px): only the 6 px one.
        assertClose([m.rmse, m.meanError, m.pck05, m.pck10], [7.0710678, 7, 0, 0.5], atol: 1e-4, rtol: 1e-5)
    }

    func testNothingLabelled() {
        let m = KeypointMetrics(predictions: [0.1, 0.2], targets: [0.9, 0.9], mask: [0], size: 96)
        XCTAssertEqual(m.count, 0)
        XCTAssertEqual([m.rmse, m.meanError, m.nme, m.pck05, m.pck10], [0, 0, 0, 0, 0])
    }
}
