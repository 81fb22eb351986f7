// EvaluationReport against hand-computed values: errors in original pixels, the three
// normalisers, percentiles, masking.
import Model
import XCTest

final class EvaluationTests: XCTestCase {
    // Two 30x40 images (diagonal 50), K = 2. Errors: sample 0: kp1 3-4-5 -> 5 px, kp2 0 px;
    // sample 1: kp1 6-8-10 -> 10 px, kp2 unlabelled (ignored even though its prediction is far off).
    private let predictions: [[Float]] = [[13, 14, 20, 20], [16, 18, 0, 0]]
    private let targets: [[Float]] = [[10, 10, 20, 20], [10, 10, 25, 25]]
    private let visible: [[Bool]] = [[true, true], [true, false]]
    private let sizes = [(width: 30, height: 40), (width: 30, height: 40)]

    func testDiagonalNormaliserAndPercentiles() {
        let r = EvaluationReport(predictions: predictions, targets: targets, visible: visible, sizes: sizes,
                                 names: ["a", "b"], normalizer: .diagonal)
        XCTAssertEqual(r.overall.count, 3)
        XCTAssertEqual(r.overall.meanError, 5, accuracy: 1e-9)                    // (5 + 0 + 10) / 3
        XCTAssertEqual(r.overall.rmse, (125.0 / 3).squareRoot(), accuracy: 1e-9)   // sqrt((25 + 0 + 100) / 3)
        XCTAssertEqual(r.overall.nme, 0.1, accuracy: 1e-9)                         // 5 / 50
        XCTAssertEqual(r.overall.pck05, 1.0 / 3, accuracy: 1e-9)                   // only the 0 px error <= 2.5
        XCTAssertEqual(r.overall.pck10, 2.0 / 3, accuracy: 1e-9)                   // 0 and 5 <= 5
        XCTAssertEqual(r.overall.p50, 5, accuracy: 1e-9)                           // sorted 0, 5, 10
        XCTAssertEqual(r.overall.p90, 9, accuracy: 1e-9)                           // 5 + 0.8 * 5
        XCTAssertEqual(r.perKeypoint["a"]!.meanError, 7.5, accuracy: 1e-9)
        XCTAssertEqual(r.perKeypoint["b"]!.count, 1)
        XCTAssertTrue(r.table.contains("all"), r.table)
    }

    func testBoundingBoxAndPairNormalisers() {
        // Sample 0's labelled keypoints span 10x10 -> sqrt(100) = 10; sample 1 has one point: skipped.
        let box = EvaluationReport(predictions: predictions, targets: targets, visible: visible, sizes: sizes,
                                   names: ["a", "b"], normalizer: .boundingBox)
        XCTAssertEqual(box.overall.count, 2)
        XCTAssertEqual(box.overall.nme, (0.5 + 0) / 2, accuracy: 1e-9)
        // Pair (a, b): sample 0 distance sqrt(200); sample 1 lacks b: skipped.
        let pair = EvaluationReport(predictions: predictions, targets: targets, visible: visible, sizes: sizes,
                                    names: ["a", "b"], normalizer: .pair(0, 1))
        XCTAssertEqual(pair.overall.nme, (5 / 200.0.squareRoot() + 0) / 2, accuracy: 1e-9)
    }
}
