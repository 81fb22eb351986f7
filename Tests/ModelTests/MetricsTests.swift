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
                                mask: [1, 1, 0], size: 100, keypoints: 3)
        XCTAssertEqual(m.count, 2)
        assertClose([m.rmse, m.meanError, m.nme, m.pck05, m.pck10],
                    [7.9056942, 7.5, 0.0530330, 0.5, 1], atol: 1e-5, rtol: 1e-5, "rmse, mean, nme, pck05, pck10")
        XCTAssertEqual(m.summary, "rmse 7.91 px, mean 7.50 px, NME 0.0530, PCK@0.05 50.0%, PCK@0.1 100.0%")
    }

    func testKeypointsOfSeveralSamples() {
        // N = 2, K = 1 each; errors 6 px (x) and 8 px (y) in a 50 px frame (diagonal 70.71 px).
        let m = KeypointMetrics(predictions: [0.62, 0.5, 0.5, 0.66], targets: [0.5, 0.5, 0.5, 0.5],
                                mask: [1, 1], size: 50, keypoints: 1)
        // RMSE sqrt((36 + 64) / 2) = 7.0710678; mean 7; PCK@0.05 (3.536 px) 0; PCK@0.1 (7.071 px): only the 6 px one.
        assertClose([m.rmse, m.meanError, m.pck05, m.pck10], [7.0710678, 7, 0, 0.5], atol: 1e-4, rtol: 1e-5)
    }

    func testNothingLabelled() {
        let m = KeypointMetrics(predictions: [0.1, 0.2], targets: [0.9, 0.9], mask: [0], size: 96, keypoints: 1)
        XCTAssertEqual(m.count, 0)
        XCTAssertEqual([m.rmse, m.meanError, m.nme, m.pck05, m.pck10], [0, 0, 0, 0, 0])
    }

    /// Inter-ocular normalisation, per sample, in the network frame (100 px): sample 1's eyes are
    /// 40 px apart, sample 2's 20 px; each has one 3 px error (keypoint 3) and two exact points, so
    /// NME = mean(3/40, 0, 0, 3/20, 0, 0) = 0.0375; PCK@0.05 misses both, PCK@0.1 only 3/20.
    /// A sample whose pair is not labelled counts in the pixel errors only.
    func testPairNormaliserPerSample() throws {
        let targets: [Float] = [0.30, 0.5, 0.70, 0.5, 0.5, 0.7,   0.40, 0.5, 0.60, 0.5, 0.5, 0.6,   0.4, 0.4, 0.6, 0.4, 0.5, 0.5]
        var predictions = targets
        predictions[5] += 0.03; predictions[11] += 0.03; predictions[17] += 0.03
        let mask: [Float] = [1, 1, 1, 1, 1, 1, 0, 1, 1]
        let names = ["left_eye", "right_eye", "mouth"]
        let m = KeypointMetrics(predictions: predictions, targets: targets, mask: mask, size: 100, keypoints: 3,
                                normalizer: try Normalizer(spec: "pair:left_eye,right_eye", keypointNames: names))
        XCTAssertEqual(m.count, 8)
        XCTAssertEqual(m.meanError, 9.0 / 8, accuracy: 1e-5)
        XCTAssertEqual(m.nme, (0.075 + 0.15) / 6, accuracy: 1e-6)
        XCTAssertEqual(m.pck05, 4.0 / 6, accuracy: 1e-9)
        XCTAssertEqual(m.pck10, 5.0 / 6, accuracy: 1e-9)
        XCTAssertEqual(m.normalizer, "pair:1,2")
        XCTAssertTrue(m.summary.contains("NME 0.0375 by pair:1,2"), m.summary)
        XCTAssertEqual(try Normalizer(spec: "pair:2,1", keypointNames: names), .pair(1, 0))
        XCTAssertThrowsError(try Normalizer(spec: "pair:1,1", keypointNames: names))
        XCTAssertThrowsError(try Normalizer(spec: "pair:nose,mouth", keypointNames: names)) {
            XCTAssertTrue("\($0)".contains("left_eye, right_eye, mouth"), "\($0)")
        }
    }
}
