// Convolution2D in bf16: on a CPU with AVX512-BF16, forward, dx and dW equal the f32 convolution's
// of the same inputs rounded to bf16 (the kernels round on the way in and sum in f32), for a 1x1,
// a depthwise and the first (plain-input) convolution; bf16 tensors (what the BN + ReLU6 layers
// between bf16 convolutions hand them) are read as they are; on a CPU without it, a clear refusal.
import XCTest
import Compute
import TestSupport

final class BFloat16ConvolutionTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// y, dx and dW of one forward and backward at `precision`, for input `x`, weights `w`, dy `r`.
    private func pass(_ geometry: ConvolutionGeometry, dims: [Int], layout: Layout, precision: ComputePrecision,
                      x: [Float], w: [Float], r: [Float]) throws -> [[Float]] {
        let params = ParameterStore(counts: [geometry.weightCount])
        params.load(0, w)
        let conv = Convolution2D(geometry, weights: params.slice(0), precision: precision)
        let y = try conv.forward(try makeTensor(dims, layout: layout, values: x), mode: .training(seed: 1))
        let dx = try XCTUnwrap(try conv.backward(try makeTensor(y.dims, layout: y.layout, values: r)))
        return [try y.plain(), try dx.plain(), params.gradients(0)]
    }

    private func assertMatchesRoundedF32(_ geometry: ConvolutionGeometry, dims: [Int], layout: Layout, seed: UInt64,
                                         file: StaticString = #filePath, line: UInt = #line) throws {
        let x = randomArray(dims.reduce(1, *), seed: seed), w = randomArray(geometry.weightCount, seed: seed + 1, in: -0.5...0.5)
        let outDims = geometry.outputDims(for: dims)
        let r = randomArray(outDims.reduce(1, *), seed: seed + 2)
        let ours = try pass(geometry, dims: dims, layout: layout, precision: .bf16, x: x, w: w, r: r)
        let reference = try pass(geometry, dims: dims, layout: layout, precision: .f32,
                                 x: roundedToBFloat16(x), w: roundedToBFloat16(w), r: roundedToBFloat16(r))
        let unrounded = try pass(geometry, dims: dims, layout: layout, precision: .f32, x: x, w: w, r: r)
        for (i, name) in ["y", "dx", "dW"].enumerated() {
            assertNotNegligible(reference[i], name, file: file, line: line)
            assertClose(ours[i], reference[i], atol: 1e-4, rtol: 1e-4, "\(name): bf16 against f32 of bf16-rounded inputs", file: file, line: line)
            // The check can fail: bf16 rounding moves the results measurably away from f32's.
            XCTAssertNotEqual(ours[i], unrounded[i], "\(name): bf16 gave exactly f32's results", file: file, line: line)
        }
    }

    func testBFloat16ConvolutionsEqualF32OnRoundedInputs() throws {
        guard Engine.hasBFloat16 else {
            let params = ParameterStore(counts: [16])
            let conv = Convolution2D(ConvolutionGeometry(inChannels: 4, outChannels: 4, kernel: 1, stride: 1, padding: .symmetric(0)),
                                     weights: params.slice(0), precision: .bf16)
            XCTAssertThrowsError(try conv.forward(try makeTensor([1, 4, 2, 2], layout: .blocked, values: Array(repeating: 1, count: 16)),
                                                  mode: .inference)) { error in
                XCTAssertTrue("\(error)".contains("AVX512-BF16"), "\(error)")
            }
            return
        }
        let pointwise = ConvolutionGeometry(inChannels: 32, outChannels: 48, kernel: 1, stride: 1, padding: .symmetric(0))
        try assertMatchesRoundedF32(pointwise, dims: [2, 32, 9, 9], layout: .blocked, seed: 10)
        let depthwise = ConvolutionGeometry(inChannels: 32, outChannels: 32, kernel: 3, stride: 2, padding: .keras(kernel: 3, stride: 2),
                                            groups: 32)
        try assertMatchesRoundedF32(depthwise, dims: [2, 32, 10, 10], layout: .blocked, seed: 20)
        let first = ConvolutionGeometry(inChannels: 3, outChannels: 16, kernel: 3, stride: 2, padding: .keras(kernel: 3, stride: 2))
        try assertMatchesRoundedF32(first, dims: [2, 3, 16, 16], layout: .nchw, seed: 30)
    }

    /// A bf16 input and a bf16 output gradient are read as they are: the same y and dW as from the
    /// f32 tensors they round (the convolution's own copies made the same values), and dx comes
    /// back in bf16. An f32 convolution refuses a bf16 tensor instead of misreading it.
    func testBFloat16TensorsAreReadWithoutACopy() throws {
        let geometry = ConvolutionGeometry(inChannels: 32, outChannels: 48, kernel: 1, stride: 1, padding: .symmetric(0))
        let dims = [2, 32, 7, 7], outDims = geometry.outputDims(for: dims)
        let x = randomArray(dims.reduce(1, *), seed: 40), r = randomArray(outDims.reduce(1, *), seed: 41)
        let params = ParameterStore(counts: [geometry.weightCount])
        params.load(0, randomArray(geometry.weightCount, seed: 42, in: -0.5...0.5))
        let f32 = Convolution2D(geometry, weights: params.slice(0), precision: .f32)
        XCTAssertThrowsError(try f32.forward(try makeTensor(dims, layout: .blocked, element: .bf16, values: x), mode: .inference)) {
            XCTAssertTrue("\($0)".contains("bf16"), "\($0)")
        }
        guard Engine.hasBFloat16 else { return }
        var results: [[[Float]]] = []
        for element in [ElementType.f32, .bf16] {
            let conv = Convolution2D(geometry, weights: params.slice(0), precision: .bf16)
            let y = try conv.forward(try makeTensor(dims, layout: .blocked, element: element, values: x), mode: .training(seed: 1))
            XCTAssertEqual(y.element, .f32)
            let dx = try XCTUnwrap(try conv.backward(try makeTensor(outDims, layout: y.layout, element: element, values: r)))
            XCTAssertEqual(dx.element, element, "dx has the input's element type")
            results.append([try y.plain(), params.gradients(0), try dx.plain()])
        }
        XCTAssertEqual(results[0][0], results[1][0], "y from a bf16 input differs from y from its f32 original")
        XCTAssertEqual(results[0][1], results[1][1], "dW from bf16 tensors differs")
        assertNotNegligible(results[0][2], "dx")
        XCTAssertEqual(roundedToBFloat16(results[1][2]), results[1][2], "a bf16 dx holds values that are not bf16")
        assertClose(results[1][2], results[0][2], atol: 1e-2, rtol: 1e-2, "dx in bf16 against dx in f32")
    }
}
