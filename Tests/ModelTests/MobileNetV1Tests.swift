// MobileNetV1's layer table against the paper and Keras: unit names and geometry, output sizes per
// input size and width, parameter and statistic counts (the PyTorch reference's), configuration errors.
import XCTest
import Compute
import Model
import TestSupport

final class MobileNetV1Tests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    func testUnitsAreNamedAndShapedAsInKeras() {
        let units = MobileNetV1Config().units
        XCTAssertEqual(units.count, 27)
        XCTAssertEqual(units.map(\.name), ["conv1"] + (1...13).flatMap { ["conv_dw_\($0)", "conv_pw_\($0)"] })

        // conv1: full 3x3/2 convolution 3 -> 32 with TensorFlow's asymmetric padding (extra row/column at the end).
        let conv1 = units[0].geometry
        XCTAssertEqual([conv1.inChannels, conv1.outChannels, conv1.kernel, conv1.stride, conv1.groups], [3, 32, 3, 2, 1])
        XCTAssertEqual(conv1.padding, Padding(top: 0, left: 0, bottom: 1, right: 1))

        // Table 1 of the paper: depthwise strides and pointwise widths.
        let depthwise = units.filter { $0.name.hasPrefix("conv_dw_") }.map(\.geometry)
        let pointwise = units.filter { $0.name.hasPrefix("conv_pw_") }.map(\.geometry)
        XCTAssertEqual(depthwise.map(\.stride), [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1])
        XCTAssertEqual(pointwise.map(\.outChannels), [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024])
        for (i, dw) in depthwise.enumerated() {
            XCTAssertEqual(dw.groups, dw.inChannels, "conv_dw_\(i + 1) is depthwise")
            XCTAssertEqual(dw.inChannels, dw.outChannels, "conv_dw_\(i + 1)")
            XCTAssertEqual(dw.kernel, 3)
            XCTAssertEqual(dw.padding, dw.stride == 1 ? .symmetric(1) : Padding(top: 0, left: 0, bottom: 1, right: 1),
                           "conv_dw_\(i + 1) padding")
            XCTAssertEqual(pointwise[i].inChannels, dw.outChannels, "conv_pw_\(i + 1) follows conv_dw_\(i + 1)")
            XCTAssertEqual([pointwise[i].kernel, pointwise[i].stride, pointwise[i].groups], [1, 1, 1])
            XCTAssertEqual(pointwise[i].padding, .symmetric(0))
        }
        // 568.8 M multiply-adds per 224 x 224 image, 567.7 M of them in the convolutions (the paper's 569 M).
        var dims = [1, 3, 224, 224], multiplyAdds = 0
        for u in units {
            multiplyAdds += u.geometry.multiplyAdds(h: dims[2], w: dims[3])
            dims = u.geometry.outputDims(for: dims)
        }
        XCTAssertEqual(multiplyAdds, 567_716_352)
    }

    /// Spatial sizes through the table; input / 32 at the end, width int(1024 * alpha).
    func testOutputDims() {
        let cases: [(alpha: Double, size: Int, expected: [Int])] = [
            (1.0, 224, [1, 1024, 7, 7]), (0.25, 96, [1, 256, 3, 3]), (0.5, 128, [1, 512, 4, 4]),
            (0.75, 160, [1, 768, 5, 5]), (1.0, 192, [1, 1024, 6, 6]),
        ]
        for c in cases {
            let config = MobileNetV1Config(alpha: c.alpha, inputSize: c.size)
            var dims = [1, 3, c.size, c.size]
            for u in config.units { dims = u.geometry.outputDims(for: dims) }
            XCTAssertEqual(dims, c.expected, "alpha \(c.alpha), \(c.size) px")
            XCTAssertEqual([1, config.outputChannels, config.outputSize, config.outputSize], c.expected)
        }
        // The 96 px, alpha 0.25 path step by step: conv1 to 48, then strides at dw 2, 4, 6, 12.
        let small = MobileNetV1Config(alpha: 0.25, inputSize: 96)
        var dims = [2, 3, 96, 96], sizes: [Int] = [], widths: [Int] = []
        for u in small.units { dims = u.geometry.outputDims(for: dims); sizes.append(dims[2]); widths.append(dims[1]) }
        XCTAssertEqual(sizes, [48, 48, 48, 24, 24, 24, 24, 12, 12, 12, 12, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 3, 3, 3, 3])
        XCTAssertEqual(widths, [8, 8, 16, 16, 32, 32, 32, 32, 64, 64, 64, 64, 128, 128, 128, 128, 128, 128,
                                128, 128, 128, 128, 128, 128, 256, 256, 256])
    }

    /// The built layers produce what the table says: [N, 256, 3, 3] features, [N, 2K] predictions.
    func testBuiltNetworkShapes() throws {
        let config = ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(hidden: 16, dropout: 0), keypoints: 3)
        let network = try KeypointNetwork(config)
        Initializer.he.initialise(network.store, seed: 1)
        XCTAssertEqual(network.backbone.layers.count, 54)   // 27 x (conv, bn + ReLU6)
        XCTAssertEqual(network.backbone.layers.prefix(2).map(\.name), ["conv1", "conv1_bn"])
        XCTAssertEqual(network.backbone.layers.suffix(2).map(\.name), ["conv_pw_13", "conv_pw_13_bn"])
        let apart = try KeypointNetwork(config, fusedNormalization: false)
        XCTAssertEqual(apart.backbone.layers.count, 81)   // 27 x (conv, bn, relu)
        XCTAssertEqual(apart.backbone.layers.prefix(3).map(\.name), ["conv1", "conv1_bn", "conv1_relu"])
        XCTAssertEqual(network.head.layers.map(\.name), ["pool", "dense1", "dense1_relu", "dropout", "out"])
        let x = try network.input(batch: 2)
        try x.load(plain: randomArray(x.count, seed: 2))
        var h = x
        for l in network.backbone.layers { h = try l.layer.forward(h, mode: .inference) }
        XCTAssertEqual(h.dims, [2, 256, 3, 3])
        let predictions = try network.forward(x, mode: .inference)
        XCTAssertEqual(predictions.dims, [2, 6])
        XCTAssertTrue(try predictions.plain().allSatisfy(\.isFinite))
    }

    /// alpha 1.0, 224 px, K = 4, hidden 1024: the PyTorch reference model's 4,264,776 trainable
    /// parameters and 21,888 BN statistics (Keras' MobileNet without top: 3,206,976 trainable,
    /// 21,888 non-trainable; plus Dense 1024 x 1024 + 1024 and Dense 8 x 1024 + 8).
    func testParameterCounts() {
        let config = ModelConfig(backbone: .init(alpha: 1.0, inputSize: 224), head: .init(hidden: 1024), keypoints: 4)
        let layout = config.layout
        XCTAssertEqual(layout.parameterCount, 4_264_776)
        XCTAssertEqual(layout.statisticCount, 21_888)
        let backbone = layout.parameters.filter { $0.name.hasPrefix("backbone.") }.map(\.count).reduce(0, +)
        XCTAssertEqual(backbone, 3_206_976)
        XCTAssertEqual(layout.parameters.count, 27 * 3 + 4)
        XCTAssertEqual(layout.statistics.count, 27 * 2)
        // Offsets pack the tensors back to back in declaration order.
        var next = 0
        for s in layout.parameters { XCTAssertEqual(s.offset, next, s.name); next += s.count }
        next = 0
        for s in layout.statistics { XCTAssertEqual(s.offset, next, s.name); next += s.count }

        let shapes = Dictionary(uniqueKeysWithValues: (layout.parameters + layout.statistics).map { ($0.name, $0.shape) })
        XCTAssertEqual(shapes["backbone.conv1.weight"], [32, 3, 3, 3])
        XCTAssertEqual(shapes["backbone.conv_dw_1.weight"], [32, 1, 3, 3])
        XCTAssertEqual(shapes["backbone.conv_pw_1.weight"], [64, 32, 1, 1])
        XCTAssertEqual(shapes["backbone.conv_pw_13.weight"], [1024, 1024, 1, 1])
        XCTAssertEqual(shapes["backbone.conv_dw_7_bn.gamma"], [512])
        XCTAssertEqual(shapes["backbone.conv_pw_13_bn.running_var"], [1024])
        XCTAssertEqual(shapes["head.dense1.weight"], [1024, 1024])
        XCTAssertEqual(shapes["head.out.weight"], [8, 1024])
        XCTAssertEqual(shapes["head.out.bias"], [8])
    }

    func testConfigurationErrors() {
        func message(_ config: ModelConfig) -> String? {
            do { _ = try KeypointNetwork(config); return nil } catch { return "\(error)" }
        }
        let alpha = message(ModelConfig(backbone: .init(alpha: 0.3, inputSize: 224)))
        XCTAssertEqual(alpha, "alpha 0.3 is not supported; use one of 0.25, 0.5, 0.75, 1.0")
        for size in [100, 64, 256, 95] {
            let m = message(ModelConfig(backbone: .init(alpha: 0.25, inputSize: size)))
            XCTAssertEqual(m, "input size \(size) is not supported; use a multiple of 32 from 96 to 224")
        }
        for size in stride(from: 96, through: 224, by: 32) {
            XCTAssertNoThrow(try MobileNetV1Config(alpha: 0.25, inputSize: size).validate(), "\(size) px")
        }
        XCTAssertNotNil(message(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), keypoints: 0)))
        XCTAssertEqual(message(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), keypoints: 2, keypointNames: ["a"])),
                       "1 keypoint names given for 2 keypoints")
        XCTAssertNotNil(message(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(hidden: 0))))
        XCTAssertNotNil(message(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(dropout: 1))))
        XCTAssertEqual(ModelConfig(keypoints: 3).keypointNames, ["kp1", "kp2", "kp3"])
    }

    /// The fused BN + ReLU6 layers and oneDNN's BN then ReLU6 train the same network: the same
    /// predictions and batch statistics within f32 rounding, and every tensor's gradient within 5%
    /// in norm. (Through 27 batch-normalised layers of a randomly initialised network the early
    /// gradients are ill-conditioned: oneDNN on 1 and on 2 threads differs from itself by ~1% too,
    /// while a wrong formula is off by the whole norm.)
    func testFusedNormalizationTrainsTheSameNetworkAsOneDNNs() throws {
        let config = ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(hidden: 16, dropout: 0), keypoints: 2)
        let fused = try KeypointNetwork(config), apart = try KeypointNetwork(config, fusedNormalization: false)
        Initializer.he.initialise(fused.store, seed: 3)
        apart.store.parameters.load(fused.store.parameters.array)
        apart.store.statistics.load(fused.store.statistics.array)
        let images = randomArray(4 * 3 * 96 * 96, seed: 4), dPredictions = randomArray(4 * 4, seed: 5)
        var outputs: [[Float]] = [], statistics: [[Float]] = [], gradients: [[Float]] = []
        for network in [fused, apart] {
            let x = try network.input(batch: 4)
            try x.load(plain: images)
            outputs.append(try network.forward(x, mode: .training(seed: 6)).plain())
            statistics.append(try XCTUnwrap(network.batchStatistics()))
            try network.backward(dPredictions)
            gradients.append(network.store.gradients.array)
        }
        assertNotNegligible(outputs[1], "predictions")
        assertClose(outputs[0], outputs[1], atol: 1e-4, rtol: 1e-3, "predictions")
        assertClose(statistics[0], statistics[1], atol: 1e-4, rtol: 1e-4, "batch statistics")
        for spec in config.layout.parameters {
            let ours = gradients[0][spec.range], theirs = gradients[1][spec.range]
            let difference = zip(ours, theirs).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            let norm = theirs.reduce(0.0) { $0 + Double($1) * Double($1) }
            XCTAssertGreaterThan(norm, 0, "\(spec.name) has no gradient: the comparison would prove nothing")
            XCTAssertLessThan((difference / norm).squareRoot(), 0.05, "gradient of \(spec.name)")
        }
    }

    /// With BN + ReLU6 fused (f64 sums in one order), the network's gradients on 1 and on 2 threads
    /// agree to 1e-4 in norm (measured 2e-6; what is left comes from oneDNN's convolutions). With
    /// oneDNN's BN they differ by ~2%: the fused layer is what keeps workers of different thread
    /// counts close.
    func testFusedNetworkGradientsBarelyDependOnTheThreadCount() throws {
        let config = ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(hidden: 16, dropout: 0), keypoints: 2)
        let one = try KeypointNetwork(config), two = try KeypointNetwork(config)
        Initializer.he.initialise(one.store, seed: 3)
        two.store.parameters.load(one.store.parameters.array)
        two.store.statistics.load(one.store.statistics.array)
        let images = randomArray(4 * 3 * 96 * 96, seed: 4), dPredictions = randomArray(4 * 4, seed: 5)
        defer { Engine.setThreads(1) }
        var gradients: [[Float]] = []
        for (network, threads) in [(one, 1), (two, 2)] {
            Engine.setThreads(threads)
            let x = try network.input(batch: 4)
            try x.load(plain: images)
            _ = try network.forward(x, mode: .training(seed: 6))
            try network.backward(dPredictions)
            gradients.append(network.store.gradients.array)
        }
        for spec in config.layout.parameters {
            let a = gradients[0][spec.range], b = gradients[1][spec.range]
            let difference = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            let norm = b.reduce(0.0) { $0 + Double($1) * Double($1) }
            XCTAssertGreaterThan(norm, 0, spec.name)
            XCTAssertLessThan((difference / norm).squareRoot(), 1e-4, "gradient of \(spec.name), 1 against 2 threads")
        }
    }
}
