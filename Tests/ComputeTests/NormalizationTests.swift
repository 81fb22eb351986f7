// BatchNorm against the naive reference (training and inference forward, running-statistics update)
// and central finite differences (dx, dgamma, dbeta) in training mode, through the batch statistics,
// and after an inference forward (frozen statistics).
import XCTest
import Compute
import TestSupport

final class NormalizationTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// A BatchNorm over `channels` with random gamma, beta and running statistics, all in flat buffers.
    private struct Fixture {
        let bn: BatchNorm
        let params: ParameterStore      // 0: gamma, 1: beta
        let statistics: FlatBuffer      // running mean [C], then running variance [C]
        let gamma: [Float], beta: [Float]
        let channels: Int

        init(channels c: Int, epsilon: Float = 1e-3, seed: UInt64) throws {
            channels = c
            params = ParameterStore(counts: [c, c])
            gamma = randomArray(c, seed: seed, in: 0.5...1.5)
            beta = randomArray(c, seed: seed + 1, in: -0.5...0.5)
            params.load(0, gamma)
            params.load(1, beta)
            statistics = FlatBuffer(count: 2 * c)
            statistics.load(randomArray(c, seed: seed + 2, in: -0.5...0.5) + randomArray(c, seed: seed + 3, in: 0.5...1.5))
            bn = try BatchNorm(channels: c, epsilon: epsilon,
                               gamma: params.slice(0), beta: params.slice(1),
                               runningMean: statistics.base, runningVariance: statistics.base + c)
        }
        var runningMean: [Float] { Array(statistics.array[0..<channels]) }
        var runningVariance: [Float] { Array(statistics.array[channels...]) }
    }

    func testTrainingForwardUsesBatchStatistics() throws {
        let dims = [2, 6, 5, 5]
        let f = try Fixture(channels: 6, seed: 10)
        let xv = perChannelInput(dims, seed: 11)
        let y = try f.bn.forward(try makeTensor(dims, layout: .nChw8c, values: xv), mode: .training(seed: 1))
        let expected = Reference.batchNormTraining(xv, dims: dims, gamma: f.gamma, beta: f.beta, epsilon: 1e-3)
        XCTAssertEqual(y.dims, dims)
        assertClose(try y.plain(), expected.y, atol: 1e-4, rtol: 1e-4, shape: dims)
    }

    /// A training forward reports the batch mean and biased variance (divided by N*H*W, as oneDNN
    /// computes and Keras' moments use) and leaves the running statistics alone: the trainer folds
    /// them by one rule (Training/BatchNormStatistics.swift). Inference leaves them alone too.
    func testTrainingForwardReportsBatchStatisticsAndLeavesTheRunningOnesAlone() throws {
        let dims = [2, 12, 4, 4]
        let f = try Fixture(channels: 12, seed: 20)
        let (mean0, variance0) = (f.runningMean, f.runningVariance)
        let xv = perChannelInput(dims, seed: 21)
        _ = try f.bn.forward(try makeTensor(dims, layout: .nChw8c, values: xv), mode: .training(seed: 1))
        let batch = Reference.channelStatistics(xv, dims: dims)
        let reported = try XCTUnwrap(f.bn.lastBatchStatistics)
        assertClose(reported.mean, batch.mean, atol: 1e-5, rtol: 1e-5, "batch mean")
        assertClose(reported.variance, batch.variance, atol: 1e-5, rtol: 1e-5, "batch variance")
        XCTAssertEqual(f.runningMean, mean0, "a training forward moved the running mean")
        XCTAssertEqual(f.runningVariance, variance0, "a training forward moved the running variance")

        _ = try f.bn.forward(try makeTensor(dims, layout: .nChw8c, values: xv), mode: .inference)
        XCTAssertNil(f.bn.lastBatchStatistics, "no batch statistics after an inference forward")
        XCTAssertEqual(f.runningMean, mean0)
        XCTAssertEqual(f.runningVariance, variance0)
    }

    func testInferenceForwardUsesRunningStatistics() throws {
        let dims = [2, 5, 4, 6]
        // A large epsilon so that using (or forgetting) it shows in the output.
        let f = try Fixture(channels: 5, epsilon: 0.5, seed: 30)
        let xv = perChannelInput(dims, seed: 31)
        let y = try f.bn.forward(try makeTensor(dims, layout: .nChw8c, values: xv), mode: .inference)
        let expected = Reference.batchNorm(xv, dims: dims, mean: f.runningMean, variance: f.runningVariance,
                                           gamma: f.gamma, beta: f.beta, epsilon: 0.5)
        assertClose(try y.plain(), expected, atol: 1e-5, rtol: 1e-4, shape: dims)
    }

    /// dx, dgamma, dbeta after a training forward, checked by finite differences through the batch
    /// mean and variance.
    func testTrainingBackward() throws {
        try verifyBackward(mode: .training(seed: 3), dims: [2, 6, 5, 5], seed: 40)
    }

    func testTrainingBackwardChannelsMultipleOf8() throws {
        try verifyBackward(mode: .training(seed: 3), dims: [2, 8, 4, 4], seed: 50)
    }

    /// After an inference forward the statistics are constants: dx = gamma / sqrt(var + eps) * dy.
    func testBackwardAfterInferenceForward() throws {
        try verifyBackward(mode: .inference, dims: [2, 6, 5, 5], seed: 60)
    }

    private func verifyBackward(mode: Mode, dims: [Int], seed: UInt64,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let c = dims[1]
        let f = try Fixture(channels: c, seed: seed)
        let xv = perChannelInput(dims, seed: seed + 1)
        let x = try makeTensor(dims, layout: .nChw8c, values: xv)
        let y = try f.bn.forward(x, mode: mode)
        let r = randomArray(y.count, seed: seed + 2)
        f.params.fillGradients(.nan)
        let dx = try XCTUnwrap(try f.bn.backward(try makeTensor(dims, layout: .nChw8c, values: r)), file: file, line: line)
        let dxv = try dx.plain(), dgamma = f.params.gradients(0), dbeta = f.params.gradients(1)

        let eps: Float = 1e-2
        let fdx = try inputGradientByFiniteDifferences(f.bn, input: xv, dims: dims, layout: .nChw8c, mode: mode, eps: eps, r: r)
        assertNotNegligible(fdx, file: file, line: line)
        assertClose(dxv, fdx, atol: 2e-3, rtol: 2e-2, shape: dims, "dx", file: file, line: line)
        for (i, name, analytic) in [(0, "dgamma", dgamma), (1, "dbeta", dbeta)] {
            let fd = try finiteDifferenceGradient(of: f.params.valuePointer(i), count: c, eps: eps, r: r) {
                try f.bn.forward(x, mode: mode).plain()
            }
            assertNotNegligible(fd, name, file: file, line: line)
            assertClose(analytic, fd, atol: 2e-3, rtol: 2e-2, name, file: file, line: line)
        }
    }

    func testFrozenBackwardLeavesParameterGradientsAlone() throws {
        let dims = [2, 6, 3, 3]
        let f = try Fixture(channels: 6, seed: 70)
        let x = try makeTensor(dims, layout: .nChw8c, values: perChannelInput(dims, seed: 71))
        let r = randomArray(dims.reduce(1, *), seed: 72)
        _ = try f.bn.forward(x, mode: .training(seed: 1))
        let reference = try XCTUnwrap(try f.bn.backward(try makeTensor(dims, layout: .nChw8c, values: r))).plain()

        f.bn.computesParameterGradients = false
        f.params.fillGradients(42)
        _ = try f.bn.forward(x, mode: .training(seed: 1))
        let dx = try XCTUnwrap(try f.bn.backward(try makeTensor(dims, layout: .nChw8c, values: r)))
        XCTAssertEqual(Set(f.params.gradients(0) + f.params.gradients(1)), [42])
        assertClose(try dx.plain(), reference, atol: 0, rtol: 0, "dx does not depend on computesParameterGradients")

        f.bn.computesParameterGradients = true
        f.bn.computesInputGradient = false
        XCTAssertNil(try f.bn.backward(try makeTensor(dims, layout: .nChw8c, values: r)))
    }
}
