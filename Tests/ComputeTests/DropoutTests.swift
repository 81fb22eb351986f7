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

    func testInferenceIsIdentity() throws {
        let dropout = Dropout(rate: 0.5)
        let xv = randomArray(24, seed: 1)
        let x = try makeTensor([3, 8], layout: .nc, values: xv)
        let y = try dropout.forward(x, mode: .inference)
        XCTAssertTrue(y === x)
        XCTAssertEqual(try y.plain(), xv)
        let dy = try makeTensor([3, 8], layout: .nc, values: randomArray(24, seed: 2))
        XCTAssertTrue(try dropout.backward(dy) === dy)
    }

    func testRateZeroIsIdentityInTraining() throws {
        let dropout = Dropout(rate: 0)
        let xv = randomArray(24, seed: 1)
        let x = try makeTensor([3, 8], layout: .nc, values: xv)
        let y = try dropout.forward(x, mode: .training(seed: 9))
        XCTAssertEqual(try y.plain(), xv)
        let dyv = randomArray(24, seed: 2)
        XCTAssertEqual(try XCTUnwrap(try dropout.backward(try makeTensor([3, 8], layout: .nc, values: dyv))).plain(), dyv)
    }

    /// y = x * mask with mask in {0, 1/keep}, about a fraction keep of it nonzero, matching the
    /// documented SplitMix64(seed, stream: sample) construction.
    func testTrainingMaskStatistics() throws {
        let (n, c, rate): (Int, Int, Float) = (32, 512, 0.25)
        let dropout = Dropout(rate: rate)
        let xv = randomArray(n * c, seed: 1, in: 0.5...1.5)   // never zero, so zeros in y are drops
        let y = try dropout.forward(try makeTensor([n, c], layout: .nc, values: xv), mode: .training(seed: 1234))
        let yv = try y.plain()
        let mask = zip(yv, xv).map { $0 / $1 }
        let kept = mask.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / Double(mask.count), 0.75, accuracy: 0.02, "overall keep rate")
        for s in 0..<n {
            let keptInSample = mask[(s * c)..<((s + 1) * c)].filter { $0 != 0 }.count
            XCTAssertEqual(Double(keptInSample) / Double(c), 0.75, accuracy: 0.1, "keep rate of sample \(s)")
        }
        assertClose(kept, [Float](repeating: 1 / 0.75, count: kept.count), atol: 0, rtol: 1e-6, "kept features are scaled by 1/keep")
        assertClose(yv, zip(xv, Reference.dropoutMask(batch: n, features: c, rate: rate, seed: 1234)).map { $0 * $1 },
                    atol: 0, rtol: 1e-6, shape: [n, c], "mask from SplitMix64(seed, stream: sample)")
    }

    func testSameSeedSameMaskOtherSeedOtherMask() throws {
        let dims = [4, 64]
        let xv = randomArray(256, seed: 1, in: 0.5...1.5)
        func output(_ layer: Dropout, seed: UInt64) throws -> [Float] {
            try layer.forward(try makeTensor(dims, layout: .nc, values: xv), mode: .training(seed: seed)).plain()
        }
        let a = Dropout(rate: 0.5), b = Dropout(rate: 0.5)
        let first = try output(a, seed: 77)
        XCTAssertEqual(try output(a, seed: 77), first, "same layer, same seed")
        XCTAssertEqual(try output(b, seed: 77), first, "another layer, same seed")
        let other = try output(a, seed: 78)
        let differing = zip(first, other).filter { ($0 == 0) != ($1 == 0) }.count
        XCTAssertGreaterThan(differing, 256 / 4, "seed 78 should give a different mask from seed 77")
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

    /// Backward multiplies dy by the forward's mask (and, dropout being linear, matches finite differences).
    func testBackwardUsesTheForwardMask() throws {
        let dims = [2, 16]
        let dropout = Dropout(rate: 0.3)
        let xv = randomArray(32, seed: 3, in: 0.5...1.5)
        let yv = try dropout.forward(try makeTensor(dims, layout: .nc, values: xv), mode: .training(seed: 11)).plain()
        let mask = zip(yv, xv).map { $0 / $1 }
        XCTAssertTrue(mask.contains(0) && mask.contains { $0 != 0 }, "the test needs both kept and dropped features")
        let r = randomArray(32, seed: 4)
        let dx = try XCTUnwrap(try dropout.backward(try makeTensor(dims, layout: .nc, values: r))).plain()
        assertClose(dx, zip(r, mask).map { $0 * $1 }, atol: 1e-6, rtol: 1e-5, shape: dims, "dx = dy * mask")
        let fdx = try inputGradientByFiniteDifferences(dropout, input: xv, dims: dims, layout: .nc,
                                                       mode: .training(seed: 11), eps: 1e-2, r: r)
        assertClose(dx, fdx, atol: 2e-3, rtol: 2e-2, shape: dims, "dx vs finite differences")
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
