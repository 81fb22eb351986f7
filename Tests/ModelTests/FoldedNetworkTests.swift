// Folded inference (BN folded into the convolutions, ReLU6 fused) predicts what the network does
// in inference mode, and sees only the weights it was made from.
import XCTest
import Compute
import Model
import TestSupport

final class FoldedNetworkTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    func testFoldedPredictionsMatchTheNetworkInInferenceMode() throws {
        let network = try smallNetworkWithStatistics(seed: 3)
        let folded = try FoldedNetwork(network)
        for n in [1, 3] {
            let images = randomArray(n * 3 * 96 * 96, seed: UInt64(40 + n))
            let expected = try network.predict(images, batch: n)
            let got = try folded.predict(images, batch: n)
            assertClose(got, expected, atol: 1e-5, rtol: 1e-4, "batch \(n)")
            XCTAssertGreaterThan(Set(expected.map { ($0 * 1e4).rounded() }).count, 3, "predictions must vary to tell a wrong graph")
        }
    }

    func testASnapshotIgnoresLaterBackboneChanges() throws {
        let network = try smallNetworkWithStatistics(seed: 4)
        let folded = try FoldedNetwork(network)
        let images = randomArray(3 * 96 * 96, seed: 9)
        let before = try folded.predict(images, batch: 1)
        network.store.setValues("backbone.conv1_bn.gamma", [Float](repeating: 0, count: 8))
        XCTAssertEqual(try folded.predict(images, batch: 1), before)
        XCTAssertNotEqual(try network.predict(images, batch: 1), before)
    }
}
