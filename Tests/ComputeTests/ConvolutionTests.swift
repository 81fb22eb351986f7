// Convolution2D against the naive reference (forward) and central finite differences (dx, dW):
// standard and depthwise, stride 1 and 2, symmetric and Keras-style asymmetric padding, plain and
// blocked inputs, channel counts that are and are not multiples of 8.
import XCTest
import Compute
import TestSupport

final class ConvolutionTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// Runs one convolution forward and backward on random data and checks y against the reference,
    /// and dx and dW against finite differences of L = sum(y * r).
    private func verify(_ geometry: ConvolutionGeometry, input dims: [Int], layout: Layout = .nChw8c,
                        seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        let params = ParameterStore(counts: [geometry.weightCount])
        let w = randomArray(geometry.weightCount, seed: seed, in: -0.5...0.5)
        params.load(0, w)
        let xv = randomArray(dims.reduce(1, *), seed: seed + 1)
        let conv = Convolution2D(geometry, weights: params.slice(0))
        let x = try makeTensor(dims, layout: layout, values: xv)

        // Forward.
        let y = try conv.forward(x, mode: .training(seed: 7))
        let expected = Reference.convolution(xv, dims: dims, weights: w, geometry: geometry)
        XCTAssertEqual(y.dims, expected.dims, "output dims", file: file, line: line)
        XCTAssertEqual(conv.outputDims(for: dims), expected.dims, "outputDims(for:)", file: file, line: line)
        XCTAssertEqual(y.layout, Layout.blocked, "convolution output layout", file: file, line: line)
        guard y.dims == expected.dims else { return }
        assertClose(try y.plain(), expected.y, atol: 1e-5, rtol: 1e-4, shape: y.dims, "forward", file: file, line: line)

        // Backward: dy = r, gradients written over a sentinel.
        let r = randomArray(y.count, seed: seed + 2)
        params.fillGradients(.nan)
        let dx = try XCTUnwrap(try conv.backward(try makeTensor(y.dims, layout: y.layout, values: r)), file: file, line: line)
        XCTAssertEqual(dx.dims, dims, file: file, line: line)
        XCTAssertEqual(dx.layout, layout, "dx has the input's layout", file: file, line: line)
        let dxv = try dx.plain(), dw = params.gradients(0)

        let eps: Float = 1e-2
        let fdx = try inputGradientByFiniteDifferences(conv, input: xv, dims: dims, layout: layout,
                                                       mode: .training(seed: 7), eps: eps, r: r)
        assertNotNegligible(fdx, "finite-difference dx", file: file, line: line)
        assertClose(dxv, fdx, atol: 2e-3, rtol: 2e-2, shape: dims, "dx", file: file, line: line)
        let fdw = try finiteDifferenceGradient(of: params.valuePointer(0), count: geometry.weightCount, eps: eps, r: r) {
            try conv.forward(x, mode: .training(seed: 7)).plain()
        }
        assertNotNegligible(fdw, "finite-difference dW", file: file, line: line)
        assertClose(dw, fdw, atol: 2e-3, rtol: 2e-2, shape: geometry.weightShape, "dW", file: file, line: line)
    }

    func testKerasPaddingMatchesTensorFlowSame() {
        XCTAssertEqual(Padding.keras(kernel: 3, stride: 1), .symmetric(1))
        XCTAssertEqual(Padding.keras(kernel: 1, stride: 1), .symmetric(0))
        // Keras MobileNet: ZeroPadding2D(((0, 1), (0, 1))) then a "valid" 3x3 stride-2 convolution.
        XCTAssertEqual(Padding.keras(kernel: 3, stride: 2), Padding(top: 0, left: 0, bottom: 1, right: 1))
        XCTAssertEqual(Padding.keras(kernel: 1, stride: 2), .symmetric(0))
        // "same" output size ceil(H / stride) on even inputs.
        let g = ConvolutionGeometry(inChannels: 8, outChannels: 8, kernel: 3, stride: 2, padding: .keras(kernel: 3, stride: 2))
        XCTAssertEqual(g.outputDims(for: [2, 8, 8, 8]), [2, 8, 4, 4])
        XCTAssertEqual(g.outputDims(for: [2, 8, 224, 224]), [2, 8, 112, 112])
    }

    func testStandardStride1SymmetricPadding() throws {
        try verify(ConvolutionGeometry(inChannels: 8, outChannels: 16, kernel: 3, stride: 1, padding: .symmetric(1)),
                   input: [2, 8, 6, 6], seed: 100)
    }

    func testStandardStride2KerasAsymmetricPadding() throws {
        try verify(ConvolutionGeometry(inChannels: 8, outChannels: 8, kernel: 3, stride: 2, padding: .keras(kernel: 3, stride: 2)),
                   input: [2, 8, 8, 8], seed: 200)
    }

    func testPointwiseConvolution() throws {
        try verify(ConvolutionGeometry(inChannels: 8, outChannels: 16, kernel: 1, stride: 1, padding: .keras(kernel: 1, stride: 1)),
                   input: [2, 8, 5, 5], seed: 300)
    }

    func testDepthwiseStride1() throws {
        try verify(ConvolutionGeometry(inChannels: 8, outChannels: 8, kernel: 3, stride: 1, padding: .symmetric(1), groups: 8),
                   input: [2, 8, 6, 6], seed: 400)
    }

    func testDepthwiseStride2KerasPadding() throws {
        try verify(ConvolutionGeometry(inChannels: 16, outChannels: 16, kernel: 3, stride: 2,
                                       padding: .keras(kernel: 3, stride: 2), groups: 16),
                   input: [2, 16, 8, 8], seed: 500)
    }

    func testDepthwiseChannelsNotMultipleOf8() throws {
        try verify(ConvolutionGeometry(inChannels: 12, outChannels: 12, kernel: 3, stride: 1, padding: .symmetric(1), groups: 12),
                   input: [2, 12, 5, 5], seed: 600)
    }

    func testChannelsNotMultipleOf8() throws {
        try verify(ConvolutionGeometry(inChannels: 5, outChannels: 6, kernel: 3, stride: 1, padding: .symmetric(1)),
                   input: [2, 5, 5, 5], seed: 700)
    }

    /// The network's first layer: RGB input in plain NCHW, stride 2 with Keras padding.
    func testPlainNCHWInputStride2() throws {
        try verify(ConvolutionGeometry(inChannels: 3, outChannels: 8, kernel: 3, stride: 2, padding: .keras(kernel: 3, stride: 2)),
                   input: [2, 3, 8, 8], layout: .nchw, seed: 800)
    }

    func testGroupedConvolution() throws {
        try verify(ConvolutionGeometry(inChannels: 8, outChannels: 16, kernel: 3, stride: 1, padding: .symmetric(1), groups: 2),
                   input: [2, 8, 5, 5], seed: 900)
    }

    /// Gradients are written, not accumulated; frozen layers leave them alone; the first layer returns no dx.
    func testBackwardWritesGradientsAndHonoursFlags() throws {
        let g = ConvolutionGeometry(inChannels: 8, outChannels: 8, kernel: 3, stride: 1, padding: .symmetric(1))
        let params = ParameterStore(counts: [g.weightCount])
        params.load(0, randomArray(g.weightCount, seed: 1))
        let conv = Convolution2D(g, weights: params.slice(0))
        let dims = [2, 8, 4, 4]
        let x = try makeTensor(dims, layout: .nChw8c, values: randomArray(dims.reduce(1, *), seed: 2))
        let y = try conv.forward(x, mode: .inference)
        let dy = try makeTensor(y.dims, layout: y.layout, values: randomArray(y.count, seed: 3))
        _ = try conv.backward(dy)
        let first = params.gradients(0)
        params.fillGradients(100)
        _ = try conv.backward(dy)
        assertClose(params.gradients(0), first, atol: 0, rtol: 0, "second backward must overwrite, not accumulate")

        conv.computesParameterGradients = false
        params.fillGradients(42)
        XCTAssertNotNil(try conv.backward(dy))
        XCTAssertEqual(Set(params.gradients(0)), [42], "frozen layer must not touch its gradients")

        conv.computesParameterGradients = true
        conv.computesInputGradient = false
        XCTAssertNil(try conv.backward(dy))
        assertClose(params.gradients(0), first, atol: 0, rtol: 0, "dW without dx")
    }

    /// A second batch size gets its own primitives; the first keeps working.
    func testSeveralBatchSizes() throws {
        let g = ConvolutionGeometry(inChannels: 8, outChannels: 8, kernel: 3, stride: 2, padding: .keras(kernel: 3, stride: 2), groups: 8)
        let params = ParameterStore(counts: [g.weightCount])
        let w = randomArray(g.weightCount, seed: 11)
        params.load(0, w)
        let conv = Convolution2D(g, weights: params.slice(0))
        for batch in [2, 3, 2] {
            let dims = [batch, 8, 6, 6]
            let xv = randomArray(dims.reduce(1, *), seed: UInt64(batch))
            let y = try conv.forward(try makeTensor(dims, layout: .nChw8c, values: xv), mode: .inference)
            assertClose(try y.plain(), Reference.convolution(xv, dims: dims, weights: w, geometry: g).y,
                        atol: 1e-5, rtol: 1e-4, "batch \(batch)")
        }
    }

    /// Weights changed in the flat buffer (an optimizer step) are used by the next forward.
    func testForwardSeesUpdatedWeights() throws {
        let g = ConvolutionGeometry(inChannels: 8, outChannels: 16, kernel: 3, stride: 1, padding: .symmetric(1))
        let params = ParameterStore(counts: [g.weightCount])
        let conv = Convolution2D(g, weights: params.slice(0))
        let dims = [1, 8, 4, 4]
        let xv = randomArray(dims.reduce(1, *), seed: 5)
        let x = try makeTensor(dims, layout: .nChw8c, values: xv)
        for seed: UInt64 in [6, 7] {
            let w = randomArray(g.weightCount, seed: seed)
            params.load(0, w)
            assertClose(try conv.forward(x, mode: .inference).plain(),
                        Reference.convolution(xv, dims: dims, weights: w, geometry: g).y, atol: 1e-5, rtol: 1e-4)
        }
    }
}
