// GlobalAveragePool against the reference (forward) and central finite differences (backward),
// on blocked inputs with and without padded channels and non-square planes.
import XCTest
import Compute
import TestSupport

final class PoolingTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    private func verify(input dims: [Int], seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        let pool = GlobalAveragePool()
        let xv = randomArray(dims.reduce(1, *), seed: seed)
        let y = try pool.forward(try makeTensor(dims, layout: .nChw8c, values: xv), mode: .training(seed: 1))
        XCTAssertEqual(y.dims, [dims[0], dims[1]], file: file, line: line)
        XCTAssertEqual(y.layout, .nc, file: file, line: line)
        XCTAssertEqual(pool.outputDims(for: dims), y.dims, file: file, line: line)
        assertClose(try y.plain(), Reference.globalAveragePool(xv, dims: dims), atol: 1e-6, rtol: 1e-5,
                    shape: y.dims, "forward", file: file, line: line)

        let r = randomArray(y.count, seed: seed + 1)
        let dx = try XCTUnwrap(try pool.backward(try makeTensor(y.dims, layout: .nc, values: r)), file: file, line: line)
        XCTAssertEqual(dx.dims, dims, file: file, line: line)
        XCTAssertEqual(dx.layout, .nChw8c, file: file, line: line)
        let fdx = try inputGradientByFiniteDifferences(pool, input: xv, dims: dims, layout: .nChw8c,
                                                       mode: .training(seed: 1), eps: 1e-2, r: r)
        assertNotNegligible(fdx, file: file, line: line)
        assertClose(try dx.plain(), fdx, atol: 2e-3, rtol: 2e-2, shape: dims, "dx", file: file, line: line)
    }

    func testChannelsMultipleOf8() throws { try verify(input: [2, 16, 5, 5], seed: 1) }
    func testPaddedChannelsNonSquarePlane() throws { try verify(input: [2, 5, 4, 7], seed: 2) }
    func testOnePixelPlane() throws { try verify(input: [3, 8, 1, 1], seed: 3) }
}
