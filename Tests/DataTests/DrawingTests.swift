// Drawing predictions: discs, rings and error lines land where the coordinates say (pixel centres),
// clipped at the edges, and a diverged model's NaN or 1e30 keypoints draw nothing instead of trapping.
import Data
import XCTest

final class DrawingTests: XCTestCase {
    private func blank(_ w: Int, _ h: Int) -> RGBImage { RGBImage(width: w, height: h) }

    func testPredictionsAndTruthAreDrawnWherePointsAre() {
        let image = blank(40, 30)
        let drawn = image.withPredictions([10, 10, 30, 20], truth: [12, 10, 30, 25], visible: [true, true])
        XCTAssertEqual(drawn[10, 10].0, keypointPalette[0].0, "keypoint 1's disc in its colour")
        XCTAssertEqual(drawn[30, 20].1, keypointPalette[1].1, "keypoint 2's disc in its colour")
        XCTAssertTrue(drawn[30, 23] == (255, 230, 0) || drawn[30, 22] == (255, 230, 0), "the error line of keypoint 2")
        XCTAssertTrue(drawn[0, 0] == (0, 0, 0) && drawn[39, 0] == (0, 0, 0), "nothing far from the points")
        // Off the image: clipped, no trap.
        _ = image.withPredictions([-50, -50, 500, 20], truth: [10, 10, 20, 20])
    }

    func testNonFiniteAndHugeCoordinatesDrawNothing() {
        let image = blank(16, 16)
        for bad: Float in [.nan, .infinity, -.infinity, 1e30, -1e30] {
            let drawn = image.withPredictions([bad, 8, 8, bad], truth: [8, 8, bad, bad], visible: [true, true], skeleton: [[0, 1]])
            for y in 0..<16 { for x in 0..<16 where drawn[x, y] != (0, 0, 0) {
                // Only the truth ring of keypoint 1 (finite) may be drawn, and no line towards the bad point.
                XCTAssertTrue(drawn[x, y] == (255, 255, 255), "\(bad): pixel (\(x), \(y)) drawn \(drawn[x, y])")
            } }
        }
    }
}
