// Optimizers over the flat parameter buffer: SGD (momentum, Nesterov), Adam and AdamW, with
// weight decay and global-norm gradient clipping. One vectorisable loop per tensor.
import Compute
#if canImport(Glibc)
import Glibc
#endif

/// Which update rule, and its constants.
public enum OptimizerKind: Sendable, Equatable, Codable {
    case sgd(momentum: Float, nesterov: Bool)
    case adam(beta1: Float, beta2: Float, epsilon: Float)
    /// Adam with decoupled weight decay (Loshchilov & Hutter, 2019).
    case adamw(beta1: Float, beta2: Float, epsilon: Float)

    /// Keras' Adam defaults (epsilon 1e-7, not PyTorch's 1e-8).
    public static let adamDefault = OptimizerKind.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-7)
    /// AdamW with the same moments and epsilon as ``adamDefault``.
    public static let adamwDefault = OptimizerKind.adamw(beta1: 0.9, beta2: 0.999, epsilon: 1e-7)
}

/// An optimizer with its state (moments and per-tensor step counts) laid out like the parameters.
///
/// Weight decay applies to tensors whose role decays (convolution and linear weights): added to the
/// gradient (L2) for SGD and Adam, subtracted from the weight (`w -= lr * wd * w`) for AdamW.
/// Each tensor counts its own steps, so Adam's bias correction stays right for a backbone that
/// starts training later than the head.
public final class Optimizer {
    public let kind: OptimizerKind
    public var weightDecay: Float
    /// First moment (Adam) or velocity (SGD), same layout as the parameters.
    public let moment1: FlatBuffer
    /// Second moment (Adam); unused by SGD.
    public let moment2: FlatBuffer
    /// Steps taken per tensor (index = position in the layout's parameter list).
    public var steps: [Int]
    private let specs: [TensorSpec]

    public init(_ kind: OptimizerKind, weightDecay: Float = 0, layout: ParameterLayout) {
        self.kind = kind
        self.weightDecay = weightDecay
        specs = layout.parameters
        moment1 = FlatBuffer(count: layout.parameterCount)
        moment2 = FlatBuffer(count: layout.parameterCount)
        steps = [Int](repeating: 0, count: specs.count)
    }

    /// Applies one update with learning rate `lr` to the tensors for which `active` is true
    /// (frozen tensors are skipped entirely: no decay, no moment update).
    public func step(parameters: FlatBuffer, gradients: FlatBuffer, lr: Float, active: (TensorSpec) -> Bool = { _ in true }) {
        for (i, spec) in specs.enumerated() where active(spec) {
            steps[i] += 1
            let w = parameters.base + spec.offset, g = gradients.base + spec.offset
            let m = moment1.base + spec.offset, v = moment2.base + spec.offset
            let wd = spec.role.decays ? weightDecay : 0
            let n = spec.count
            switch kind {
            case .sgd(let mu, let nesterov):
                for j in 0..<n {
                    let gj = g[j] + wd * w[j]
                    m[j] = mu * m[j] + gj
                    w[j] -= lr * (nesterov ? gj + mu * m[j] : m[j])
                }
            case .adam(let b1, let b2, let eps), .adamw(let b1, let b2, let eps):
                let decoupled: Bool
                if case .adamw = kind { decoupled = true } else { decoupled = false }
                let t = Float(steps[i])
                let c1 = 1 - powf(b1, t), c2 = 1 - powf(b2, t)
                let stepSize = lr / c1
                let coupled = decoupled ? 0 : wd
                let shrink = decoupled ? 1 - lr * wd : 1
                for j in 0..<n {
                    let gj = g[j] + coupled * w[j]
                    m[j] = b1 * m[j] + (1 - b1) * gj
                    v[j] = b2 * v[j] + (1 - b2) * gj * gj
                    w[j] = w[j] * shrink - stepSize * m[j] / ((v[j] / c2).squareRoot() + eps)
                }
            }
        }
    }
}

/// Scales the gradients of the active tensors so that their global L2 norm is at most `maxNorm`;
/// returns the norm before clipping.
@discardableResult
public func clipGlobalNorm(_ gradients: FlatBuffer, specs: [TensorSpec], maxNorm: Float,
                           active: (TensorSpec) -> Bool = { _ in true }) -> Float {
    var sum: Double = 0
    for s in specs where active(s) {
        let g = gradients.base + s.offset
        var partial: Float = 0
        for j in 0..<s.count { partial += g[j] * g[j] }
        sum += Double(partial)
    }
    let norm = Float(sum.squareRoot())
    if maxNorm > 0 && norm > maxNorm {
        let scale = maxNorm / norm
        for s in specs where active(s) {
            let g = gradients.base + s.offset
            for j in 0..<s.count { g[j] *= scale }
        }
    }
    return norm
}
