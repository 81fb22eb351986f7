// Inference with each BatchNorm folded into the convolution before it and ReLU6 fused in: the
// predictions of KeypointNetwork in inference mode from one primitive per convolution unit (used by
// predict and evaluate; ONNX export folds the same way).
import Compute

public enum BatchNormFolding {
    /// Folds an inference BatchNorm into the bias-free convolution before it. `weight` is
    /// [O, I/groups, KH, KW] and the statistics are [O]; returns (W' [same shape], b' [O]), computed in
    /// double precision: W' = W * g, b' = beta - mean * g with g = gamma / sqrt(variance + epsilon).
    public static func fold(weight: [Float], gamma: [Float], beta: [Float], mean: [Float], variance: [Float],
                            epsilon: Double) -> (weight: [Float], bias: [Float]) {
        let channels = gamma.count
        precondition(beta.count == channels && mean.count == channels && variance.count == channels
                     && weight.count % channels == 0, "BatchNorm folding: mismatched channel counts")
        let perChannel = weight.count / channels
        var folded = [Float](repeating: 0, count: weight.count)
        var bias = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            let g = Double(gamma[c]) / (Double(variance[c]) + epsilon).squareRoot()
            for i in c * perChannel..<(c + 1) * perChannel { folded[i] = Float(Double(weight[i]) * g) }
            bias[c] = Float(Double(beta[c]) - Double(mean[c]) * g)
        }
        return (folded, bias)
    }

    /// Unit `unit`'s convolution weights with its BN (running statistics, epsilon 1e-3) folded in,
    /// read from `store`: (W' [O, I/groups, K, K], b' [O]).
    public static func fold(_ unit: ConvUnit, in store: ParameterStore) throws -> (weight: [Float], bias: [Float]) {
        func values(_ name: String) throws -> [Float] {
            guard let v = store.values(name) else { throw ModelError("folding: the network has no tensor \(name)") }
            return v
        }
        let base = "backbone.\(unit.name)", bn = "backbone.\(unit.name)_bn"
        return fold(weight: try values("\(base).weight"), gamma: try values("\(bn).gamma"), beta: try values("\(bn).beta"),
                    mean: try values("\(bn).running_mean"), variance: try values("\(bn).running_var"), epsilon: 1e-3)
    }
}

/// A snapshot of a network for inference: the backbone's 27 units as fused convolutions over folded
/// copies of the current weights and running statistics; the head is the network's own, run in
/// inference mode. Input [N, 3, S, S] plain NCHW in [-1, 1]; output [N, 2K] as the network's.
/// Later changes to the network's backbone are not seen: make a new one after training further.
public final class FoldedNetwork {
    public let config: ModelConfig
    private let units: [FusedConvolution]
    private let head: any KeypointHead
    private let engine: Engine
    private var inputs: [Int: Tensor] = [:]

    public init(_ network: KeypointNetwork, engine: Engine = .cpu) throws {
        config = network.config
        head = network.head
        self.engine = engine
        units = try config.backbone.units.map { unit in
            let (weight, bias) = try BatchNormFolding.fold(unit, in: network.store)
            return FusedConvolution(unit.geometry, weights: weight, bias: bias, engine: engine)
        }
    }

    /// Predictions [N, 2K] (plain, row-major) for `images`, a plain [N, 3, S, S] array in [-1, 1].
    public func predict(_ images: [Float], batch n: Int) throws -> [Float] {
        let s = config.backbone.inputSize
        if inputs[n] == nil { inputs[n] = try Tensor([n, 3, s, s], layout: .nchw, engine: engine) }
        let x = inputs[n]!
        try x.load(plain: images)
        var h = x
        for unit in units { h = try unit.forward(h) }
        return try head.forward(h, mode: .inference).plain()
    }
}
