// Dropout: identity in inference and at rate 0; in training, masks that keep about 1 - rate of the
// features, scale them by 1 / (1 - rate), follow the seed, differ between samples, and are reused by
// backward. Also the SplitMix64 streams the masks are drawn from.
import XCTest
import Compute
import TestSupport

final class DropoutTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// Masks of different samples in a batch must be independent: neither equal nor shifted copies.
    func testMasksOfDifferentSamplesAreIndependent() throws {
        let (n, c, rate): (Int, Int, Float) = (16, 256, 0.5)
        let dropout = Dropout(rate: rate)
        let y = try dropout.forward(try makeTensor([n, c], layout: .nc, values: [Float](repeating: 1, count: n * c)),
                                    mode: .training(seed: 5)).plain()
        let kept = y.map { $0 != 0 }
        // For independent masks, a feature agrees with another sample's feature half the time at rate 0.5.
        for lag in 0...2 {
            var agree = 0, total = 0
            for s in 0..<(n - 1) {
                for j in 0..<(c - lag) {
                    if kept[s * c + j + lag] == kept[(s + 1) * c + j] { agree += 1 }
                    total += 1
                }
            }
            XCTAssertEqual(Double(agree) / Double(total), 0.5, accuracy: 0.05,
                           "consecutive samples' masks agree too often at feature lag \(lag)")
        }
    }

    func testSplitMix64StreamsDoNotOverlap() {
        func outputs(seed: UInt64, stream: UInt64) -> [UInt64] {
            var rng = SplitMix64(seed: seed, stream: stream)
            return (0..<1000).map { _ in rng.next() }
        }
        let base = Set(outputs(seed: 1, stream: 0))
        for (seed, stream): (UInt64, UInt64) in [(1, 1), (1, 2), (2, 0), (2, 1), (0, 1)] {
            XCTAssertTrue(base.isDisjoint(with: outputs(seed: seed, stream: stream)),
                          "SplitMix64(seed: \(seed), stream: \(stream)) repeats values of (seed: 1, stream: 0)")
        }
        XCTAssertEqual(outputs(seed: 3, stream: 4), outputs(seed: 3, stream: 4), "deterministic")
        var rng = SplitMix64(seed: 9)
        let units = (0..<10_000).map { _ in rng.nextUnit() }
        XCTAssertTrue(units.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(Double(units.reduce(0, +)) / 10_000, 0.5, accuracy: 0.02)
    }
}
