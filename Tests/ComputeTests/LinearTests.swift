// Linear against the reference (forward) and central finite differences (dx, dW, db).
import XCTest
import Compute
import TestSupport

final class LinearTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    private func verify(batch: Int, inFeatures: Int, outFeatures: Int, seed: UInt64,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let params = ParameterStore(counts: [outFeatures * inFeatures, outFeatures])   // weights [O, I], bias [O]
        let w = randomArray(outFeatures * inFeatures, seed: seed, in: -0.5...0.5)
        let b = randomArray(outFeatures, seed: seed + 1)
        params.load(0, w)
        params.load(1, b)
        let linear = try Linear(inFeatures: inFeatures, outFeatures: outFeatures, weights: params.slice(0), bias: params.slice(1))
        let dims = [batch, inFeatures]
        let xv = randomArray(batch * inFeatures, seed: seed + 2)
        let x = try makeTensor(dims, layout: .nc, values: xv)
        let y = try linear.forward(x, mode: .training(seed: 1))
        XCTAssertEqual(y.dims, [batch, outFeatures], file: file, line: line)
        assertClose(try y.plain(), Reference.linear(xv, batch: batch, weights: w, bias: b),
                    atol: 1e-5, rtol: 1e-4, shape: y.dims, "forward", file: file, line: line)

        let r = randomArray(y.count, seed: seed + 3)
        params.fillGradients(.nan)
        let dx = try XCTUnwrap(try linear.backward(try makeTensor(y.dims, layout: .nc, values: r)), file: file, line: line)
        let dxv = try dx.plain()
        let eps: Float = 1e-2
        let fdx = try inputGradientByFiniteDifferences(linear, input: xv, dims: dims, layout: .nc,
                                                       mode: .training(seed: 1), eps: eps, r: r)
        assertNotNegligible(fdx, file: file, line: line)
        assertClose(dxv, fdx, atol: 2e-3, rtol: 2e-2, shape: dims, "dx", file: file, line: line)
        for (i, name, shape) in [(0, "dW", [outFeatures, inFeatures]), (1, "db", [outFeatures])] {
            let fd = try finiteDifferenceGradient(of: params.valuePointer(i), count: params.counts[i], eps: eps, r: r) {
                try linear.forward(x, mode: .training(seed: 1)).plain()
            }
            assertNotNegligible(fd, name, file: file, line: line)
            assertClose(params.gradients(i), fd, atol: 2e-3, rtol: 2e-2, shape: shape, name, file: file, line: line)
        }
    }

    func testSmall() throws { try verify(batch: 2, inFeatures: 12, outFeatures: 5, seed: 1) }
    func testWide() throws { try verify(batch: 3, inFeatures: 32, outFeatures: 16, seed: 2) }

    func testBackwardWritesGradientsAndHonoursFlags() throws {
        let params = ParameterStore(counts: [4 * 6, 4])
        params.load(0, randomArray(24, seed: 1))
        let linear = try Linear(inFeatures: 6, outFeatures: 4, weights: params.slice(0), bias: params.slice(1))
        _ = try linear.forward(try makeTensor([2, 6], layout: .nc, values: randomArray(12, seed: 2)), mode: .inference)
        let dy = try makeTensor([2, 4], layout: .nc, values: randomArray(8, seed: 3))
        _ = try linear.backward(dy)
        let first = params.gradients(0) + params.gradients(1)
        params.fillGradients(100)
        _ = try linear.backward(dy)
        assertClose(params.gradients(0) + params.gradients(1), first, atol: 0, rtol: 0, "must overwrite, not accumulate")

        linear.computesParameterGradients = false
        params.fillGradients(42)
        XCTAssertNotNil(try linear.backward(dy))
        XCTAssertEqual(Set(params.gradients(0) + params.gradients(1)), [42])
        linear.computesInputGradient = false
        XCTAssertNil(try linear.backward(dy))
    }
}
