// Weight initialisation schemes. The choice decides whether training from scratch works (DESIGN.md).
import Compute

/// How fresh weights are drawn. BN starts as identity (gamma 1, beta 0, running mean 0, variance 1)
/// and biases at 0, except the output bias, which starts at 0.5: the centre of the [0, 1] frame.
public enum Initializer: String, Sendable, Codable, CaseIterable {
    /// He (Kaiming) normal, std sqrt(2 / fan_out) for convolutions as torchvision does for MobileNets,
    /// sqrt(2 / fan_in) for the hidden Dense, and a small normal (std 0.01) for the output layer so
    /// that the first predictions sit near the frame centre. The default.
    case he
    /// Keras' default for every kernel, glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
    /// Kept for comparison: in a trial it did not learn this task from scratch.
    case glorot
    /// PyTorch's default for Conv2d/Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    case torch

    /// Fills every parameter and statistic of `store`, deterministically from `seed`.
    public func initialise(_ store: ParameterStore, seed: UInt64) {
        for (i, spec) in store.layout.parameters.enumerated() {
            var rng = SplitMix64(seed: seed, stream: UInt64(i))
            let p = store.parameters.base + spec.offset
            switch spec.role {
            case .normScale:
                p.update(repeating: 1, count: spec.count)
            case .normShift:
                p.update(repeating: 0, count: spec.count)
            case .bias:
                p.update(repeating: spec.name == "head.out.bias" ? 0.5 : 0, count: spec.count)
            case .convolutionWeight, .linearWeight:
                let (fanIn, fanOut) = Self.fans(spec.shape)
                let isOutput = spec.name == "head.out.weight"
                for j in 0..<spec.count { p[j] = draw(&rng, fanIn: fanIn, fanOut: fanOut, conv: spec.role == .convolutionWeight, output: isOutput) }
            case .runningMean, .runningVariance:
                break
            }
        }
        for spec in store.layout.statistics {
            (store.statistics.base + spec.offset).update(repeating: spec.role == .runningVariance ? 1 : 0, count: spec.count)
        }
    }

    private func draw(_ rng: inout SplitMix64, fanIn: Int, fanOut: Int, conv: Bool, output: Bool) -> Float {
        switch self {
        case .he:
            if output { return 0.01 * rng.nextNormal() }
            let fan = conv ? fanOut : fanIn
            return (2 / Float(fan)).squareRoot() * rng.nextNormal()
        case .glorot:
            let limit = (6 / Float(fanIn + fanOut)).squareRoot()
            return (2 * rng.nextUnit() - 1) * limit
        case .torch:
            let limit = 1 / Float(fanIn).squareRoot()
            return (2 * rng.nextUnit() - 1) * limit
        }
    }

    /// (fan_in, fan_out) of a weight [O, I, KH, KW] or [O, I]. For a depthwise kernel [C, 1, K, K]
    /// both are K * K: each output sees K * K inputs and each input feeds K * K outputs. (Keras and
    /// torchvision count K * K * C for fan_out instead, which makes depthwise weights sqrt(C) times
    /// smaller; BN after every convolution makes the difference a matter of step size only.)
    static func fans(_ shape: [Int]) -> (Int, Int) {
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, (shape[1] == 1 && shape.count == 4 ? 1 : shape[0]) * receptive)
    }
}
