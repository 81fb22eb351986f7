// Regression losses on normalised keypoint coordinates, each masked by per-keypoint visibility.
#if canImport(Glibc)
import Glibc
#endif

/// A keypoint regression loss. Predictions and targets are [N, 2K] normalised coordinates
/// (x1, y1, ..., xK, yK in [0, 1] of the network input); the mask is [N, K] (1 = labelled, 0 = not).
public enum Loss: Sendable, Equatable, Codable {
    /// Mean squared error.
    case mse
    /// Mean absolute error.
    case l1
    /// Huber-style smooth L1: 0.5 d^2 / beta for |d| < beta, else |d| - 0.5 beta (beta in normalised units).
    case smoothL1(beta: Float)
    /// Wing loss (Feng et al., CVPR 2018) on errors measured in network-input pixels (the normalised
    /// error times `scale`, the input size): w ln(1 + |x|/epsilon) for |x| < w, else |x| - C.
    case wing(w: Float, epsilon: Float, scale: Float)

    /// Parses `mse`, `l1`, `smooth-l1` or `wing` with the usual constants.
    public static func named(_ name: String, inputSize: Int) -> Loss? {
        switch name {
        case "mse": return .mse
        case "l1", "mae": return .l1
        case "smooth-l1", "smoothl1", "huber": return .smoothL1(beta: 0.02)
        case "wing": return .wing(w: 10, epsilon: 2, scale: Float(inputSize))
        default: return nil
        }
    }

    /// Per-coordinate loss and its derivative with respect to the prediction, for error d = p - t.
    @inline(__always)
    func value(_ d: Float) -> (loss: Float, slope: Float) {
        switch self {
        case .mse:
            return (d * d, 2 * d)
        case .l1:
            return (abs(d), d > 0 ? 1 : (d < 0 ? -1 : 0))
        case .smoothL1(let beta):
            let a = abs(d)
            if a < beta { return (0.5 * d * d / beta, d / beta) }
            return (a - 0.5 * beta, d > 0 ? 1 : -1)
        case .wing(let w, let epsilon, let scale):
            let x = d * scale, a = abs(x)
            let sign: Float = x > 0 ? 1 : (x < 0 ? -1 : 0)
            if a < w { return (w * log(1 + a / epsilon), sign * scale * w / (epsilon + a)) }
            let c = w - w * log(1 + w / epsilon)
            return (a - c, sign * scale)
        }
    }

    /// The masked mean loss and dLoss/dPredictions [N, 2K].
    ///
    /// The mean is over labelled coordinates: the sum of per-coordinate losses divided by
    /// `normalizer`, which defaults to the number of labelled coordinates in this batch. Pass the
    /// count of the whole global batch when a batch is split into micro-batches, so that their
    /// gradients add up to the full batch's.
    public func evaluate(predictions: [Float], targets: [Float], mask: [Float],
                         normalizer: Float? = nil) -> (loss: Float, gradient: [Float]) {
        precondition(predictions.count == targets.count && mask.count * 2 == predictions.count,
                     "loss: \(predictions.count) predictions, \(targets.count) targets, \(mask.count) mask entries")
        let labelled = 2 * mask.reduce(0, +)
        let norm = normalizer ?? max(labelled, 1)
        var total: Double = 0
        var gradient = [Float](repeating: 0, count: predictions.count)
        for i in 0..<predictions.count {
            let m = mask[i / 2]
            guard m > 0 else { continue }
            let (l, s) = value(predictions[i] - targets[i])
            total += Double(m * l)
            gradient[i] = m * s / norm
        }
        return (Float(total / Double(norm)), gradient)
    }
}
