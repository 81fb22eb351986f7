// The regression losses (MSE, L1, smooth L1, wing): values and gradients against hand-computed
// numbers, masking, the normalizer override, and gradients against central finite differences.
import XCTest
import Foundation
import Model
import TestSupport

final class LossTests: XCTestCase {
    // One sample, K = 2: errors d = p - t = (0.2, 0, 0.3, -0.5). The zero error checks sign(0) = 0.
    private let predictions: [Float] = [0.5, 0.2, 0.9, 0.4]
    private let targets: [Float] = [0.3, 0.2, 0.6, 0.9]
    private let allLabelled: [Float] = [1, 1]

    private func check(_ loss: Loss, value: Double, gradient: [Double],
                       file: StaticString = #filePath, line: UInt = #line) {
        let (l, g) = loss.evaluate(predictions: predictions, targets: targets, mask: allLabelled)
        assertClose([l], [value], atol: 1e-6, rtol: 1e-5, "\(loss) value", file: file, line: line)
        assertClose(g, gradient, atol: 1e-6, rtol: 1e-5, "\(loss) gradient", file: file, line: line)
    }

    func testMSE() {
        // sum d^2 = 0.04 + 0 + 0.09 + 0.25 = 0.38 over 4 labelled coordinates -> 0.095;
        // dL/dp = 2 d / 4 = (0.1, 0, 0.15, -0.25).
        check(.mse, value: 0.095, gradient: [0.1, 0, 0.15, -0.25])
    }

    func testL1() {
        // sum |d| = 0.2 + 0 + 0.3 + 0.5 = 1.0 -> 0.25; dL/dp = sign(d) / 4, with sign(0) = 0.
        check(.l1, value: 0.25, gradient: [0.25, 0, 0.25, -0.25])
    }

    func testSmoothL1() {
        // beta 0.25: |0.2| < beta -> 0.5 * 0.04 / 0.25 = 0.08 (slope 0.2 / 0.25 = 0.8);
        // 0 -> 0; |0.3| >= beta -> 0.3 - 0.125 = 0.175 (slope 1); |-0.5| -> 0.5 - 0.125 = 0.375 (slope -1).
        // Sum 0.63 / 4 = 0.1575; gradient = slope / 4 = (0.2, 0, 0.25, -0.25).
        check(.smoothL1(beta: 0.25), value: 0.1575, gradient: [0.2, 0, 0.25, -0.25])
    }

    func testWing() {
        // w 4, epsilon 1, scale 10: x = 10 d = (2, 0, 3, -5) "pixels".
        // |2| < w: 4 ln(1 + 2) = 4.394449, slope 10 * 4 / (1 + 2) = 13.333333;
        // 0: 0, slope 0;
        // |3| < w: 4 ln(1 + 3) = 5.545177, slope 10 * 4 / (1 + 3) = 10;
        // |-5| >= w: C = w - w ln(1 + w/epsilon) = 4 - 4 ln 5 = -2.437752, loss 5 - C = 7.437752, slope -10.
        // Sum 17.377378 / 4 = 4.344345; gradient = slope / 4 = (3.333333, 0, 2.5, -2.5).
        check(.wing(w: 4, epsilon: 1, scale: 10), value: 4.3443445622221,
              gradient: [10.0 / 3, 0, 2.5, -2.5])
    }

    func testWingIsContinuousAtW() {
        // Both branches give w ln(1 + w / epsilon) at |x| = w.
        let loss = Loss.wing(w: 10, epsilon: 2, scale: 100)
        let below = loss.evaluate(predictions: [0.1 - 1e-6, 0], targets: [0, 0], mask: [1]).loss
        let above = loss.evaluate(predictions: [0.1 + 1e-6, 0], targets: [0, 0], mask: [1]).loss
        assertClose([below, above], [10 * log(6.0) / 2, 10 * log(6.0) / 2], atol: 1e-3, rtol: 1e-4)
    }

    func testMaskExcludesKeypoints() {
        // N = 2, K = 2; sample 1's second keypoint is unlabelled and has a huge error that must not count.
        let p: [Float] = [0.5, 0.5, 0.1, 0.2, /* sample 1 */ 0.6, 0.4, 9, -9]
        let t: [Float] = [0.4, 0.5, 0.3, 0.2, /* sample 1 */ 0.6, 0.1, 0, 0]
        let mask: [Float] = [1, 1, 1, 0]
        // Labelled errors: 0.1, 0, -0.2, 0, 0, 0.3 over 6 coordinates: (0.01 + 0.04 + 0.09) / 6.
        let (l, g) = Loss.mse.evaluate(predictions: p, targets: t, mask: mask)
        assertClose([l], [0.14 / 6], atol: 1e-7, rtol: 1e-5)
        assertClose(g, [0.2 / 6, 0, -0.4 / 6, 0, 0, 0.6 / 6, 0, 0], atol: 1e-7, rtol: 1e-5)

        // Nothing labelled: loss and gradient are zero, not NaN.
        let none = Loss.mse.evaluate(predictions: p, targets: t, mask: [0, 0, 0, 0])
        XCTAssertEqual(none.loss, 0)
        XCTAssertEqual(none.gradient, [Float](repeating: 0, count: 8))
    }

    func testNormalizerOverrideLetsMicroBatchesAddUp() {
        let p = randomArray(16, seed: 1, in: 0...1), t = randomArray(16, seed: 2, in: 0...1)
        let mask: [Float] = [1, 0, 1, 1, 1, 1, 0, 1]   // N = 2, K = 4; 12 labelled coordinates
        for loss in [Loss.mse, .l1, .smoothL1(beta: 0.1), .wing(w: 10, epsilon: 2, scale: 96)] {
            let whole = loss.evaluate(predictions: p, targets: t, mask: mask)
            // A given normalizer replaces the labelled count: loss and gradient scale by 12 / 30.
            let over30 = loss.evaluate(predictions: p, targets: t, mask: mask, normalizer: 30)
            assertClose([over30.loss], [Double(whole.loss) * 12 / 30], atol: 1e-7, rtol: 1e-5, "\(loss) loss / 30")
            assertClose(over30.gradient, whole.gradient.map { Double($0) * 12 / 30 }, atol: 1e-7, rtol: 1e-5,
                        "\(loss) gradient / 30")
            // Two micro-batches normalised by the global count add up to the whole batch.
            let first = loss.evaluate(predictions: Array(p[0..<8]), targets: Array(t[0..<8]),
                                      mask: Array(mask[0..<4]), normalizer: 12)
            let second = loss.evaluate(predictions: Array(p[8...]), targets: Array(t[8...]),
                                       mask: Array(mask[4...]), normalizer: 12)
            assertClose([first.loss + second.loss], [whole.loss], atol: 1e-6, rtol: 1e-5, "\(loss) micro-batch sum")
            assertClose(first.gradient + second.gradient, whole.gradient, atol: 0, rtol: 0, "\(loss) micro-batch gradient")
        }
    }

    /// dL/dp against central differences of `evaluate(...).loss`, on errors kept away from each
    /// loss's kinks (0 for L1 and wing, |d| = w / scale for wing) so the quotient is smooth.
    func testGradientsMatchFiniteDifferences() {
        let n = 3, k = 4
        // Errors in [0.02, 0.3] with random signs: away from 0 and from wing's w / scale = 10 / 96 = 0.104.
        let magnitudes = randomArray(2 * n * k, seed: 10, in: 0.02...0.3, avoiding: [10.0 / 96], margin: 0.01)
        let signs = randomArray(2 * n * k, seed: 11).map { $0 < 0 ? Float(-1) : 1 }
        let t = randomArray(2 * n * k, seed: 12, in: 0.3...0.7)
        let p = (0..<t.count).map { t[$0] + signs[$0] * magnitudes[$0] }
        let mask: [Float] = [1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1]
        let eps: Float = 1e-3
        for loss in [Loss.mse, .l1, .smoothL1(beta: 0.1), .wing(w: 10, epsilon: 2, scale: 96)] {
            let analytic = loss.evaluate(predictions: p, targets: t, mask: mask).gradient
            var q = p
            let fd = (0..<p.count).map { i -> Double in
                q[i] = p[i] + eps
                let up = Double(loss.evaluate(predictions: q, targets: t, mask: mask).loss)
                q[i] = p[i] - eps
                let down = Double(loss.evaluate(predictions: q, targets: t, mask: mask).loss)
                q[i] = p[i]
                return (up - down) / (Double(p[i] + eps) - Double(p[i] - eps))
            }
            assertNotNegligible(fd, "\(loss)")
            let scale = fd.map(abs).max()!
            assertClose(analytic, fd, atol: 2e-3 * scale, rtol: 1e-2, "\(loss)")
        }
    }

    func testNamedLosses() {
        XCTAssertEqual(Loss.named("mse", inputSize: 224), .mse)
        XCTAssertEqual(Loss.named("mae", inputSize: 224), .l1)
        XCTAssertEqual(Loss.named("smooth-l1", inputSize: 224), .smoothL1(beta: 0.02))
        XCTAssertEqual(Loss.named("wing", inputSize: 128), .wing(w: 10, epsilon: 2, scale: 128))
        XCTAssertNil(Loss.named("softmax", inputSize: 224))
    }
}
