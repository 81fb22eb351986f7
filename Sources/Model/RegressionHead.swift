// The pooled regression head (GAP -> Dense -> ReLU -> Dropout -> Dense), the Keras recipe's.
import Compute

/// The Keras recipe's head: GlobalAveragePooling -> Dense(hidden, ReLU) -> Dropout -> Dense(2K, linear).
/// No softmax: the output is a linear regression of normalised coordinates.
public final class RegressionHead: KeypointHead {
    public let layers: [NamedLayer]
    private let pool: GlobalAveragePool

    /// Tensors `head.dense1.{weight,bias}` ([hidden, C], [hidden]) and `head.out.{weight,bias}` ([2K, hidden], [2K]).
    static func declare(_ config: HeadConfig, in layout: inout ParameterLayout, features: Int, keypoints: Int) {
        layout.addParameter("head.dense1.weight", [config.hidden, features], .linearWeight)
        layout.addParameter("head.dense1.bias", [config.hidden], .bias)
        layout.addParameter("head.out.weight", [2 * keypoints, config.hidden], .linearWeight)
        layout.addParameter("head.out.bias", [2 * keypoints], .bias)
    }

    public init(_ config: HeadConfig, features: Int, keypoints: Int, store: ParameterStore, engine: Engine = .cpu) throws {
        pool = GlobalAveragePool(engine: engine)
        let dense1 = try Linear(inFeatures: features, outFeatures: config.hidden,
                                weights: store.slice("head.dense1.weight"), bias: store.slice("head.dense1.bias"), engine: engine)
        let out = try Linear(inFeatures: config.hidden, outFeatures: 2 * keypoints,
                             weights: store.slice("head.out.weight"), bias: store.slice("head.out.bias"), engine: engine)
        layers = [
            NamedLayer(name: "pool", layer: pool),
            NamedLayer(name: "dense1", layer: dense1),
            NamedLayer(name: "dense1_relu", layer: Activation(.relu, engine: engine)),
            NamedLayer(name: "dropout", layer: Dropout(rate: config.dropout, engine: engine)),
            NamedLayer(name: "out", layer: out),
        ]
    }

    public var propagatesToBackbone: Bool {
        get { pool.computesInputGradient }
        set { pool.computesInputGradient = newValue }
    }

    public func forward(_ features: Tensor, mode: Mode) throws -> Tensor { try forwardLayers(features, mode: mode) }

    public func backward(_ dPredictions: Tensor) throws -> Tensor? { try backwardLayers(dPredictions) }
}
