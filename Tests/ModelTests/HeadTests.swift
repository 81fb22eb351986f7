// The heatmap and SimCC heads against their plain-Swift references (coordinates and distribution
// loss), and their backward against central finite differences of coordinate loss + distribution
// loss, for the maps, the SimCC bins and the backbone features; masked keypoints add no
// distribution loss; old manifests still decode as regression heads at stride 32.
import XCTest
import Compute
import Foundation
import Model
import TestSupport

final class HeadTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    private let keypoints = 3

    /// alpha 0.25, 96 px, stride 16: features [2, 128, 6, 6].
    private func network(_ head: HeadConfig, seed: UInt64) throws -> KeypointNetwork {
        let config = ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96, outputStride: 16), head: head, keypoints: keypoints)
        let network = try KeypointNetwork(config)
        Initializer.he.initialise(network.store, seed: seed)
        if network.store.spec("head.bins.bias") != nil {
            network.store.setValues("head.bins.bias", randomArray(network.store.spec("head.bins.bias")!.count, seed: seed + 7, in: -0.5...0.5))
        }
        return network
    }

    private var featureDims: [Int] { [2, 128, 6, 6] }

    private func inputs(seed: UInt64) -> (features: [Float], targets: [Float], mask: [Float]) {
        (randomArray(featureDims.reduce(1, *), seed: seed),
         randomArray(2 * 2 * keypoints, seed: seed + 1, in: 0.1...0.9),
         [1, 0, 1, 1, 0.5, 1])
    }

    /// Coordinates and distribution loss of `head` for the features.
    private func run(_ head: any KeypointHead, _ features: [Float], targets: [Float], mask: [Float]) throws -> ([Float], Float) {
        let y = try head.forward(try makeTensor(featureDims, layout: .nChw8c, values: features), mode: .training(seed: 1)).plain()
        return (y, try head.distributionLoss(targets: targets, mask: mask))
    }

    func testHeatmapHeadMatchesReference() throws {
        for upsample in [1, 2] {
            let config = HeadConfig(kind: .heatmap, upsample: upsample, sigma: 6, distributionWeight: 0.5)
            let net = try network(config, seed: 3)
            let (x, t, m) = inputs(seed: 4)
            let (y, loss) = try run(net.head, x, targets: t, mask: m)
            let ref = Reference.heatmapHead(x, dims: featureDims, weights: net.store.values("head.maps.weight")!, keypoints: keypoints,
                                            upsample: upsample, targets: t, mask: m, sigma: 6.0 / 96)
            XCTAssertEqual(y.count, 2 * 2 * keypoints)
            assertClose(y, ref.coordinates, atol: 1e-5, rtol: 1e-4, shape: [2, 2 * keypoints], "heatmap x\(upsample) coordinates")
            XCTAssertEqual(Double(loss), 0.5 * ref.divergence, accuracy: 1e-4 * max(1, ref.divergence), "upsample \(upsample)")
            XCTAssertGreaterThan(ref.divergence, 0.1)
        }
    }

    func testSimCCHeadMatchesReference() throws {
        let config = HeadConfig(kind: .simcc, splitRatio: 2, sigma: 3, distributionWeight: 0.25)
        let net = try network(config, seed: 5)
        let (x, t, m) = inputs(seed: 6)
        let (y, loss) = try run(net.head, x, targets: t, mask: m)
        let s = net.store
        let ref = Reference.simccHead(x, dims: featureDims, mapWeights: s.values("head.maps.weight")!,
                                      binWeights: s.values("head.bins.weight")!, binBias: s.values("head.bins.bias")!,
                                      keypoints: keypoints, targets: t, mask: m, sigma: 3.0 / 96)
        XCTAssertEqual(s.spec("head.bins.weight")!.shape, [2 * 96 * 2, 36])
        assertClose(y, ref.coordinates, atol: 1e-5, rtol: 1e-4, shape: [2, 2 * keypoints], "simcc coordinates")
        XCTAssertEqual(Double(loss), 0.25 * ref.divergence, accuracy: 1e-4 * max(1, ref.divergence))
    }

    /// backward(r) + the distribution loss's gradient against central differences of
    /// L = sum r y + distribution loss, for sampled parameters of each head tensor and sampled features.
    private func checkGradients(_ config: HeadConfig, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        let net = try network(config, seed: seed)
        let head = net.head
        let (x, t, m) = inputs(seed: seed + 1)
        let r = randomArray(2 * 2 * keypoints, seed: seed + 2)
        func loss(_ features: [Float]) throws -> Double {
            let (y, d) = try run(head, features, targets: t, mask: m)
            return weightedSum(y, r) + Double(d)
        }
        _ = try loss(x)
        let dx = try XCTUnwrap(try head.backward(try makeTensor([2, 2 * keypoints], layout: .nc, values: r)), file: file, line: line)
        let analyticInput = try dx.plain()
        let gradients = net.store.gradients.array
        let eps: Float = 1e-2
        var rng = SplitMix64(seed: seed + 3)
        var misses: [String] = []
        func check(_ what: String, analytic: Float, perturb: (Float) throws -> Double, scale: Float) rethrows {
            let numeric = (try perturb(eps) - (try perturb(-eps))) / Double(2 * eps)
            if abs(Double(analytic) - numeric) > 2e-2 * Double(scale) + 5e-2 * abs(numeric) {
                misses.append("\(what): backward \(analytic), finite differences \(numeric)")
            }
        }
        for spec in net.store.layout.parameters where spec.name.hasPrefix("head.") {
            let slice = gradients[spec.range]
            let scale = slice.map(abs).max()!
            XCTAssertGreaterThan(scale, 1e-4, "\(spec.name) gets no gradient", file: file, line: line)
            for _ in 0..<12 {
                let i = Int(rng.next() % UInt64(spec.count))
                let p = net.store.parameters.base + spec.offset + i
                let v = p.pointee
                try check("\(spec.name)[\(i)]", analytic: gradients[spec.offset + i], perturb: { e in
                    p.pointee = v + e
                    defer { p.pointee = v }
                    return try loss(x)
                }, scale: scale)
            }
        }
        let inputScale = analyticInput.map(abs).max()!
        XCTAssertGreaterThan(inputScale, 1e-4, file: file, line: line)
        for _ in 0..<16 {
            let i = Int(rng.next() % UInt64(x.count))
            try check("features[\(i)]", analytic: analyticInput[i], perturb: { e in
                var moved = x
                moved[i] += e
                return try loss(moved)
            }, scale: inputScale)
        }
        XCTAssertTrue(misses.isEmpty, "\(misses.count) coordinates outside tolerance:\n" + misses.joined(separator: "\n"), file: file, line: line)
    }

    func testHeatmapGradientsWithoutUpsampling() throws {
        try checkGradients(HeadConfig(kind: .heatmap, upsample: 1, sigma: 8, distributionWeight: 0.3), seed: 10)
    }

    func testHeatmapGradientsUpsampledCoordinatesOnly() throws {
        try checkGradients(HeadConfig(kind: .heatmap, upsample: 2, distributionWeight: 0), seed: 20)
    }

    func testHeatmapGradientsUpsampledWithDistributionLoss() throws {
        try checkGradients(HeadConfig(kind: .heatmap, upsample: 2, sigma: 4, distributionWeight: 1), seed: 30)
    }

    func testSimCCGradients() throws {
        try checkGradients(HeadConfig(kind: .simcc, splitRatio: 1, sigma: 3, distributionWeight: 0.2), seed: 40)
    }

    /// A keypoint with mask 0 contributes no distribution loss: the total equals the reference's,
    /// whose sum skips it, and zeroing the whole mask gives 0.
    func testMaskedKeypointsAddNoDistributionLoss() throws {
        for kind in [HeadKind.heatmap, .simcc] {
            let net = try network(HeadConfig(kind: kind, sigma: 4, distributionWeight: 1), seed: 50)
            let (x, t, _) = inputs(seed: 51)
            let (_, none) = try run(net.head, x, targets: t, mask: [Float](repeating: 0, count: 2 * keypoints))
            XCTAssertEqual(none, 0, "\(kind)")
            let (_, one) = try run(net.head, x, targets: t, mask: [0, 0, 1, 0, 0, 0])
            XCTAssertGreaterThan(one, 0, "\(kind)")
            var moved = t
            moved[0] = 0.95; moved[1] = 0.05   // keypoint 0 is masked: its target must not matter
            let (_, same) = try run(net.head, x, targets: moved, mask: [0, 0, 1, 0, 0, 0])
            XCTAssertEqual(same, one, "\(kind)")
        }
    }

    /// Manifests from before head kinds and output strides: `{"hidden", "dropout"}` and
    /// `{"alpha", "inputSize"}` decode as a regression head on the stride-32 backbone.
    func testOldConfigurationsDecodeAsRegressionAtStride32() throws {
        let json = #"{"backbone":{"alpha":0.5,"inputSize":128},"head":{"hidden":64,"dropout":0.25},"keypoints":2,"keypointNames":["a","b"]}"#
        let config = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config.head, HeadConfig(kind: .regression, hidden: 64, dropout: 0.25))
        XCTAssertEqual(config.backbone, MobileNetV1Config(alpha: 0.5, inputSize: 128, outputStride: 32))
        let network = try KeypointNetwork(config)
        XCTAssertEqual(network.config.backbone.units.count, 27)
        XCTAssertEqual(try KeypointNetwork(ModelConfig(backbone: .init(alpha: 0.5, inputSize: 128, outputStride: 16),
                                                       head: .init(kind: .heatmap), keypoints: 2)).config.backbone.units.count, 23)
    }
}
