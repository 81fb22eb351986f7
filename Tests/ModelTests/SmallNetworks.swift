// A small network for tests that save, load or export weights: alpha 0.25, 96 px, three named
// keypoints, initialised weights and BN statistics away from their defaults (so they must travel).
import Model
import TestSupport

func smallNetworkWithStatistics(seed: UInt64, dropout: Float = 0) throws -> KeypointNetwork {
    let config = ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(hidden: 16, dropout: dropout),
                             keypoints: 3, keypointNames: ["nose", "left_eye", "right_eye"])
    let network = try KeypointNetwork(config)
    Initializer.he.initialise(network.store, seed: seed)
    for (i, spec) in network.store.layout.statistics.enumerated() {
        let range: ClosedRange<Float> = spec.role == .runningVariance ? 0.5...2 : -0.5...0.5
        network.store.setValues(spec.name, randomArray(spec.count, seed: seed * 20 + UInt64(i), in: range))
    }
    return network
}
