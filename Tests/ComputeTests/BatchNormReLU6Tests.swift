// The fused batch norm + ReLU6 layer against oneDNN's batch norm followed by its eltwise ReLU6
// (training and inference, forward, statistics and backward), against central finite differences
// away from ReLU6's kinks, and its results bit for bit the same on 1 and 2 threads; in both blocked
// layouts (nChw8c, nChw16c); with bf16 tensors in and out, the f32 results rounded to nearest even.
import XCTest
import Compute
import TestSupport

final class BatchNormReLU6Tests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// The fused layer and the oneDNN pair over the same parameters and running statistics.
    private struct Fixture {
        let fused: BatchNormReLU6
        let norm: BatchNorm, relu: Activation
        let params: ParameterStore      // 0: gamma, 1: beta
        let statistics: FlatBuffer      // running mean [C], then running variance [C]
        let channels: Int
        /// The activations' blocked layout: nChw8c or nChw16c.
        let layout: Layout

        init(channels c: Int, seed: UInt64, layout: Layout = .nChw8c, gamma gammaRange: ClosedRange<Float> = 0.5...1.5,
             beta betaRange: ClosedRange<Float> = -0.5...1.5) throws {
            channels = c
            self.layout = layout
            params = ParameterStore(counts: [c, c])
            params.load(0, randomArray(c, seed: seed, in: gammaRange))
            params.load(1, randomArray(c, seed: seed + 1, in: betaRange))
            statistics = FlatBuffer(count: 2 * c)
            statistics.load(randomArray(c, seed: seed + 2, in: -0.5...0.5) + randomArray(c, seed: seed + 3, in: 0.5...1.5))
            fused = BatchNormReLU6(channels: c, gamma: params.slice(0), beta: params.slice(1),
                                   runningMean: statistics.base, runningVariance: statistics.base + c)
            norm = try BatchNorm(channels: c, gamma: params.slice(0), beta: params.slice(1),
                                 runningMean: statistics.base, runningVariance: statistics.base + c)
            relu = Activation(.relu6)
        }

        /// y, dx, dgamma, dbeta of the fused layer for input `x` and output gradient `r` (plain layout).
        func fusedPass(_ x: [Float], _ dims: [Int], _ r: [Float], mode: Mode) throws -> [[Float]] {
            let y = try fused.forward(try makeTensor(dims, layout: layout, values: x), mode: mode).plain()
            let dx = try XCTUnwrap(try fused.backward(try makeTensor(dims, layout: layout, values: r))).plain()
            return [y, dx, params.gradients(0), params.gradients(1)]
        }

        /// The same through oneDNN's batch norm then ReLU6.
        func referencePass(_ x: [Float], _ dims: [Int], _ r: [Float], mode: Mode) throws -> [[Float]] {
            let y = try relu.forward(try norm.forward(try makeTensor(dims, layout: layout, values: x), mode: mode), mode: mode).plain()
            let dy = try XCTUnwrap(try relu.backward(try makeTensor(dims, layout: layout, values: r)))
            let dx = try XCTUnwrap(try norm.backward(dy)).plain()
            return [y, dx, params.gradients(0), params.gradients(1)]
        }
    }

    private func assertMatchesOneDNN(dims: [Int], mode: Mode, seed: UInt64, layout: Layout, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try Fixture(channels: dims[1], seed: seed, layout: layout)
        let x = perChannelInput(dims, seed: seed + 10), r = randomArray(dims.reduce(1, *), seed: seed + 11)
        let fused = try f.fusedPass(x, dims, r, mode: mode)
        if mode.isTraining {
            let ours = try XCTUnwrap(f.fused.lastBatchStatistics, file: file, line: line)
            _ = try f.norm.forward(try makeTensor(dims, layout: f.layout, values: x), mode: mode)
            let theirs = try XCTUnwrap(f.norm.lastBatchStatistics, file: file, line: line)
            assertClose(ours.mean, theirs.mean, atol: 1e-5, rtol: 1e-5, "batch mean", file: file, line: line)
            assertClose(ours.variance, theirs.variance, atol: 1e-5, rtol: 1e-5, "batch variance", file: file, line: line)
        } else {
            XCTAssertNil(f.fused.lastBatchStatistics, file: file, line: line)
        }
        let reference = try f.referencePass(x, dims, r, mode: mode)
        for (i, name) in ["y", "dx", "dgamma", "dbeta"].enumerated() {
            assertNotNegligible(reference[i], name, file: file, line: line)
            assertClose(fused[i], reference[i], atol: 1e-4, rtol: 1e-3, name, file: file, line: line)
        }
    }

    /// Both blocked layouts: 8 channels per block (AVX2 machines) and 16 (AVX-512 ones).
    private let layouts: [Layout] = [.nChw8c, .nChw16c]

    func testTrainingMatchesOneDNNsBatchNormThenReLU6() throws {
        for layout in layouts {
            try assertMatchesOneDNN(dims: [2, 6, 5, 5], mode: .training(seed: 1), seed: 10, layout: layout)
            try assertMatchesOneDNN(dims: [3, 16, 7, 9], mode: .training(seed: 1), seed: 20, layout: layout)
            // Planes longer than one f32 chunk, and more than the serial threshold; in nChw16c, 40
            // channels are 2 whole blocks and a half-padded one.
            try assertMatchesOneDNN(dims: [4, 12, 40, 40], mode: .training(seed: 1), seed: 30, layout: layout)
            try assertMatchesOneDNN(dims: [2, 40, 9, 9], mode: .training(seed: 1), seed: 35, layout: layout)
        }
    }

    func testInferenceMatchesOneDNNsBatchNormThenReLU6() throws {
        for layout in layouts {
            try assertMatchesOneDNN(dims: [2, 6, 5, 5], mode: .inference, seed: 40, layout: layout)
            try assertMatchesOneDNN(dims: [2, 24, 12, 12], mode: .inference, seed: 50, layout: layout)
        }
    }

    /// dx, dgamma, dbeta by finite differences, with outputs kept away from the kinks at 0 and 6
    /// (beta near 3, gamma small), through the batch statistics in training and with frozen ones in inference.
    func testBackwardAgainstFiniteDifferences() throws {
        for layout in layouts {
            try backwardAgainstFiniteDifferences(layout: layout)
        }
    }

    private func backwardAgainstFiniteDifferences(layout: Layout) throws {
        for (mode, seed) in [(Mode.training(seed: 1), UInt64(60)), (.inference, 70)] {
            let dims = [2, 6, 4, 4], c = 6
            let f = try Fixture(channels: c, seed: seed, layout: layout, gamma: 0.2...0.4, beta: 2.5...3.5)
            let xv = perChannelInput(dims, seed: seed + 1), r = randomArray(dims.reduce(1, *), seed: seed + 2)
            let x = try makeTensor(dims, layout: f.layout, values: xv)
            let y = try f.fused.forward(x, mode: mode).plain()
            XCTAssertTrue(y.allSatisfy { $0 > 0.05 && $0 < 5.95 }, "outputs near a kink: the check would be unsound")
            f.params.fillGradients(.nan)
            let dx = try XCTUnwrap(try f.fused.backward(try makeTensor(dims, layout: f.layout, values: r))).plain()
            let eps: Float = 1e-2
            let fdx = try inputGradientByFiniteDifferences(f.fused, input: xv, dims: dims, layout: f.layout, mode: mode, eps: eps, r: r)
            assertNotNegligible(fdx, "dx \(mode)")
            assertClose(dx, fdx, atol: 2e-3, rtol: 2e-2, shape: dims, "dx \(mode)")
            for (i, name) in [(0, "dgamma"), (1, "dbeta")] {
                let analytic = f.params.gradients(i)
                let fd = try finiteDifferenceGradient(of: f.params.valuePointer(i), count: c, eps: eps, r: r) {
                    try f.fused.forward(x, mode: mode).plain()
                }
                assertNotNegligible(fd, "\(name) \(mode)")
                assertClose(analytic, fd, atol: 2e-3, rtol: 2e-2, "\(name) \(mode)")
            }
        }
    }

    /// Work is split over (image, channel block) and every sum added in one order: 2 threads give
    /// the 1-thread bits (what keeps weights bit-identical whatever each worker's thread count).
    func testTwoThreadsGiveTheSameBitsAsOne() throws {
        for layout in layouts {
            let dims = [4, 16, 48, 48]
            let f = try Fixture(channels: 16, seed: 80, layout: layout)
            let x = perChannelInput(dims, seed: 81), r = randomArray(dims.reduce(1, *), seed: 82)
            let one = try f.fusedPass(x, dims, r, mode: .training(seed: 1))
            Engine.setThreads(2)
            defer { Engine.setThreads(1) }
            let two = try f.fusedPass(x, dims, r, mode: .training(seed: 1))
            for i in one.indices { XCTAssertEqual(one[i], two[i], "\(layout): output \(i) differs between 1 and 2 threads") }
        }
    }

    func testFrozenParametersAndNoInputGradient() throws {
        let dims = [2, 6, 3, 3]
        let f = try Fixture(channels: 6, seed: 90)
        let x = perChannelInput(dims, seed: 91), r = randomArray(dims.reduce(1, *), seed: 92)
        let reference = try f.fusedPass(x, dims, r, mode: .training(seed: 1))
        f.fused.computesParameterGradients = false
        f.params.fillGradients(42)
        let frozen = try f.fusedPass(x, dims, r, mode: .training(seed: 1))
        XCTAssertEqual(Set(frozen[2] + frozen[3]), [42], "frozen parameters got gradients")
        XCTAssertEqual(frozen[1], reference[1], "dx depends on computesParameterGradients")
        f.fused.computesParameterGradients = true
        f.fused.computesInputGradient = false
        XCTAssertNil(try f.fused.backward(try makeTensor(dims, layout: f.layout, values: r)))
        XCTAssertEqual(f.params.gradients(1), reference[3], "dbeta without dx")
    }

    /// A NaN stays a NaN (a diverged step must show in the loss, not vanish into the clip), and a
    /// tensor in the wrong layout or of the wrong channel count is refused, not misread.
    func testNaNPropagatesAndWrongTensorsAreRefused() throws {
        let dims = [1, 8, 2, 2]
        let f = try Fixture(channels: 8, seed: 100, layout: .nChw16c)  // half of its one block is padding
        var x = perChannelInput(dims, seed: 101)
        x[5] = .nan
        let y = try f.fused.forward(try makeTensor(dims, layout: f.layout, values: x), mode: .inference).plain()
        XCTAssertTrue(y[5].isNaN, "a NaN input came out as \(y[5])")
        XCTAssertEqual(y.filter(\.isNaN).count, 1)
        XCTAssertThrowsError(try f.fused.forward(try makeTensor(dims, layout: .nchw, values: x), mode: .inference))
        XCTAssertThrowsError(try f.fused.forward(try makeTensor([1, 6, 2, 2], layout: f.layout, values: Array(x[0..<24])),
                                                 mode: .inference))
    }

    /// With y and dx stored in bf16 and x, dy given in bf16 or f32 (what sits between two bf16
    /// convolutions), y and dx are exactly the f32 layer's for the same values rounded to nearest
    /// even, and the statistics, dgamma and dbeta exactly its own: the maths stays f32/f64.
    func testBFloat16TensorsGiveTheF32ResultsRounded() throws {
        for layout in layouts {
            for (mode, dims) in [(Mode.training(seed: 1), [3, 40, 21, 21]), (.inference, [2, 24, 6, 6])] {
                for inputs in [ElementType.f32, .bf16] {
                    let what = "\(layout) \(mode), \(inputs) x and dy"
                    let f = try Fixture(channels: dims[1], seed: 110, layout: layout)
                    var x = perChannelInput(dims, seed: 111)
                    if inputs == .bf16 { x = roundedToBFloat16(x) }
                    let r = roundedToBFloat16(randomArray(dims.reduce(1, *), seed: 112))
                    let reference = try f.fusedPass(x, dims, r, mode: mode)
                    let statistics = f.fused.lastBatchStatistics
                    f.fused.outputElement = .bf16
                    f.fused.inputGradientElement = .bf16
                    let y = try f.fused.forward(try makeTensor(dims, layout: layout, element: inputs, values: x), mode: mode)
                    XCTAssertEqual(y.element, .bf16)
                    if let statistics {
                        let ours = try XCTUnwrap(f.fused.lastBatchStatistics)
                        XCTAssertEqual(ours.mean, statistics.mean, "\(what): batch mean")
                        XCTAssertEqual(ours.variance, statistics.variance, "\(what): batch variance")
                    }
                    let dx = try XCTUnwrap(try f.fused.backward(try makeTensor(dims, layout: layout, element: inputs, values: r)))
                    XCTAssertEqual(dx.element, .bf16)
                    XCTAssertEqual(try y.plain(), roundedToBFloat16(reference[0]), "\(what): y in bf16")
                    XCTAssertEqual(try dx.plain(), roundedToBFloat16(reference[1]), "\(what): dx in bf16")
                    XCTAssertEqual(f.params.gradients(0), reference[2], "\(what): dgamma")
                    XCTAssertEqual(f.params.gradients(1), reference[3], "\(what): dbeta")
                    XCTAssertNotEqual(try y.plain(), reference[0], "rounding to bf16 changed nothing: the check would be unsound")
                }
            }
        }
    }
}
