// Tests of the realistic card generator: the perspective map, determinism, labels on the card.
@testable import Data
import XCTest

final class SyntheticCardsTests: XCTestCase {
    func testHomographyMapsTheUnitSquareOntoTheQuadAndInverts() {
        let quad: [Double] = [10, 12, 90, 5, 100, 70, 3, 60]
        let h = Homography.squareTo(quad)
        for (k, (u, v)) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)].enumerated() {
            let (x, y) = h.apply(u, v)
            XCTAssertEqual(x, quad[2 * k], accuracy: 1e-9)
            XCTAssertEqual(y, quad[2 * k + 1], accuracy: 1e-9)
        }
        let (x, y) = h.apply(0.3, 0.7)
        let (u, v) = h.inverse.apply(x, y)
        XCTAssertEqual(u, 0.3, accuracy: 1e-9)
        XCTAssertEqual(v, 0.7, accuracy: 1e-9)
    }

    func testSamplesAreDeterministicLabelledInOrderAndInsideTheImage() {
        let g = SyntheticCards(size: 128, seed: 4)
        let a = g.sample(3), b = g.sample(3)
        XCTAssertEqual(a.image, b.image)
        XCTAssertEqual(a.keypoints, b.keypoints)
        XCTAssertEqual(a.image.width, 128)
        XCTAssertEqual(a.image.height, 96)
        var occluded = 0
        for i in 0..<40 {
            let s = g.sample(i)
            occluded += s.visibility.filter { $0 == 1 }.count
            for k in 0..<4 {
                XCTAssertTrue((0...128).contains(s.keypoints[2 * k]) && (0...96).contains(s.keypoints[2 * k + 1]),
                              "sample \(i) corner \(k) outside the image")
            }
            // Corners go round clockwise on screen: TL, TR, BR, BL has a positive signed area (y down).
            var area: Float = 0
            for k in 0..<4 {
                let j = (k + 1) % 4
                area += s.keypoints[2 * k] * s.keypoints[2 * j + 1] - s.keypoints[2 * j] * s.keypoints[2 * k + 1]
            }
            XCTAssertGreaterThan(area, 0, "sample \(i): corners are not in TL, TR, BR, BL order")
        }
        XCTAssertGreaterThan(occluded, 0, "some corners should be occluded in 40 samples")
    }
}
