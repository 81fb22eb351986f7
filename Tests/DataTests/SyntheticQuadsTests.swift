// Tests of the generated test quads: determinism and labels that sit on the quad's corners.
import TestSupport
import XCTest

final class SyntheticQuadsTests: XCTestCase {
    func testSameSeedAndIndexGiveTheSameSample() {
        let a = SyntheticQuads(size: 64, seed: 3).sample(5), b = SyntheticQuads(size: 64, seed: 3).sample(5)
        XCTAssertEqual(a.rgb, b.rgb)
        XCTAssertEqual(a.keypoints, b.keypoints)
        XCTAssertNotEqual(a.rgb, SyntheticQuads(size: 64, seed: 3).sample(6).rgb)
    }

    func testCornersAreInsideTheFrameAndTheCardContrastsWithTheBackground() {
        let g = SyntheticQuads(size: 96, seed: 1)
        for i in 0..<50 {
            let s = g.sample(i)
            for v in s.keypoints { XCTAssertTrue(v > 0 && v < 96, "sample \(i) corner \(v) outside the frame") }
            // The card's centre pixel and a frame-corner pixel differ clearly in brightness.
            let cx = Int((s.keypoints[0] + s.keypoints[4]) / 2), cy = Int((s.keypoints[1] + s.keypoints[5]) / 2)
            func luma(_ x: Int, _ y: Int) -> Int {
                let i = 3 * (y * 96 + x)
                return (Int(s.rgb[i]) + Int(s.rgb[i + 1]) + Int(s.rgb[i + 2])) / 3
            }
            XCTAssertGreaterThan(abs(luma(cx, cy) - luma(1, 1)), 10, "sample \(i): card does not stand out")
        }
    }
}
