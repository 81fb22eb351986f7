// Keypoint heads: the pluggable interface, and the pooled regression head (GAP -> Dense -> ReLU -> Dropout -> Dense).
import Compute

/// What a head must do: turn backbone features [N, C, h, w] (nChw8c) into predictions [N, 2K]
/// of normalised coordinates (x1, y1, ..., xK, yK) in [0, 1] of the network input frame.
/// Localisation-aware heads (SimCC, integral heatmaps, DSNT) plug in here later.
public protocol KeypointHead: AnyObject {
    /// The head's layers in order, for profiles and summaries.
    var layers: [NamedLayer] { get }
    /// Predictions [N, 2K], plain.
    func forward(_ features: Tensor, mode: Mode) throws -> Tensor
    /// Writes the head's parameter gradients; returns dFeatures when `propagatesToBackbone`.
    func backward(_ dPredictions: Tensor) throws -> Tensor?
    /// False while the backbone is frozen: backward stops at the head.
    var propagatesToBackbone: Bool { get set }
}

/// Settings of the pooled regression head.
public struct RegressionHeadConfig: Sendable, Codable, Equatable {
    /// Units of the hidden Dense layer.
    public var hidden: Int
    /// Dropout rate between the hidden and the output layer.
    public var dropout: Float

    public init(hidden: Int = 1024, dropout: Float = 0) {
        self.hidden = hidden
        self.dropout = dropout
    }

    /// Declares `head.dense1.{weight,bias}` ([hidden, C], [hidden]) and `head.out.{weight,bias}`
    /// ([2K, hidden], [2K]).
    public func declare(in layout: inout ParameterLayout, features: Int, keypoints: Int) {
        layout.addParameter("head.dense1.weight", [hidden, features], .linearWeight)
        layout.addParameter("head.dense1.bias", [hidden], .bias)
        layout.addParameter("head.out.weight", [2 * keypoints, hidden], .linearWeight)
        layout.addParameter("head.out.bias", [2 * keypoints], .bias)
    }
}

/// The Keras recipe's head: GlobalAveragePooling -> Dense(hidden, ReLU) -> Dropout -> Dense(2K, linear).
/// No softmax: the output is a linear regression of normalised coordinates.
public final class RegressionHead: KeypointHead {
    public let layers: [NamedLayer]
    private let pool: GlobalAveragePool

    public init(_ config: RegressionHeadConfig, features: Int, keypoints: Int, store: ParameterStore, engine: Engine = .cpu) throws {
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

    public func forward(_ features: Tensor, mode: Mode) throws -> Tensor {
        var x = features
        for l in layers { x = try l.layer.forward(x, mode: mode) }
        return x
    }

    public func backward(_ dPredictions: Tensor) throws -> Tensor? {
        var d: Tensor? = dPredictions
        for l in layers.reversed() {
            guard let g = d else { return nil }
            d = try l.layer.backward(g)
        }
        return d
    }
}
