// ReLU and ReLU6 against the reference (forward) and central finite differences (backward), on
// blocked activations and plain features; checks the in-place contract and the gradient at the kinks.
import XCTest
import Compute
import TestSupport

final class ActivationTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    private func verify(_ kind: Activation.Kind, dims: [Int], layout: Layout, seed: UInt64,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let layer = Activation(kind)
        let reference = kind == .relu ? Reference.relu : Reference.relu6
        // Spread over both kinks, but at least 2e-2 from them so central differences with eps 1e-2
        // never straddle one.
        let xv = randomArray(dims.reduce(1, *), seed: seed, in: -3...9, avoiding: [0, 6], margin: 2e-2)
        let x = try makeTensor(dims, layout: layout, values: xv)
        let y = try layer.forward(x, mode: .training(seed: 1))
        XCTAssertTrue(y === x, "activation runs in place: its output is its input", file: file, line: line)
        assertClose(try y.plain(), reference(xv), atol: 0, rtol: 0, shape: dims, "forward", file: file, line: line)

        let r = randomArray(xv.count, seed: seed + 1)
        let dy = try makeTensor(dims, layout: layout, values: r)
        let dx = try XCTUnwrap(try layer.backward(dy), file: file, line: line)
        XCTAssertTrue(dx === dy, "backward overwrites dy with dx", file: file, line: line)
        let fdx = try inputGradientByFiniteDifferences(layer, input: xv, dims: dims, layout: layout,
                                                       mode: .training(seed: 1), eps: 1e-2, r: r)
        assertNotNegligible(fdx, file: file, line: line)
        assertClose(try dx.plain(), fdx, atol: 2e-3, rtol: 2e-2, shape: dims, "dx", file: file, line: line)
    }

    func testReLUBlocked() throws { try verify(.relu, dims: [2, 5, 4, 4], layout: .nChw8c, seed: 1) }
    func testReLU6Blocked() throws { try verify(.relu6, dims: [2, 12, 4, 3], layout: .nChw8c, seed: 2) }
    func testReLUPlainFeatures() throws { try verify(.relu, dims: [3, 10], layout: .nc, seed: 3) }
    func testReLU6PlainFeatures() throws { try verify(.relu6, dims: [3, 10], layout: .nc, seed: 4) }

    /// NOTE: the derivative is taken from the output, so at exactly 0 (and 6 for ReLU6) it is 0.
    func testGradientAtTheKinks() throws {
        let xv: [Float] = [-1, 0, 0.5, 6, 7, 5.999, 1e-6, -1e-6]
        for (kind, expected) in [(Activation.Kind.relu, [Float]([0, 0, 1, 1, 1, 1, 1, 0])),
                                 (.relu6, [0, 0, 1, 0, 0, 1, 1, 0])] {
            let layer = Activation(kind)
            _ = try layer.forward(try makeTensor([1, 8], layout: .nc, values: xv), mode: .inference)
            let dx = try XCTUnwrap(try layer.backward(try makeTensor([1, 8], layout: .nc, values: [Float](repeating: 1, count: 8))))
            XCTAssertEqual(try dx.plain(), expected, "\(kind)")
        }
    }

    func testNoInputGradientWhenNotNeeded() throws {
        let layer = Activation(.relu6)
        layer.computesInputGradient = false
        _ = try layer.forward(try makeTensor([1, 4], layout: .nc, values: [1, 2, 3, 4]), mode: .inference)
        XCTAssertNil(try layer.backward(try makeTensor([1, 4], layout: .nc, values: [1, 1, 1, 1])))
    }
}
