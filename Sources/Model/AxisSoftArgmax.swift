// SimCC decoding: per keypoint, a softmax over x-bins and one over y-bins, and their expectations.
import Compute

/// Input [N*K, Bx + By] logits (plain `.nc`, row n*K + k for keypoint k of image n: Bx x-bin
/// logits then By y-bin logits); output [N, 2K] plain: the expected bin centre per axis, in
/// normalised input-frame coordinates (bin b of B has centre (b + 0.5) / B). No parameters.
public final class AxisSoftArgmax: DistributionDecoder {
    public let keypoints: Int, xBins: Int, yBins: Int
    public var computesInputGradient = true
    public var computesParameterGradients = true
    private let engine: Engine
    private var outputs: [Int: Tensor] = [:]
    private var inputGradients: [Int: Tensor] = [:]
    /// The last forward's logits and probabilities [N*K, Bx + By], each row's two log-sum-exps
    /// [N*K, 2] and the coordinates [N, 2K].
    private var last: (rows: Int, logits: [Float], probabilities: [Float], logSumExp: [Float], coordinates: [Float])?
    /// dLoss/dLogits from `distributionLoss`, added in the next backward.
    private var pending: [Float]?

    public init(keypoints: Int, xBins: Int, yBins: Int, engine: Engine = .cpu) {
        self.keypoints = keypoints
        self.xBins = xBins
        self.yBins = yBins
        self.engine = engine
    }

    public func outputDims(for input: [Int]) -> [Int] { [input[0] / keypoints, 2 * keypoints] }

    private var width: Int { xBins + yBins }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        precondition(x.dims.count == 2 && x.dims[1] == width && x.dims[0] % keypoints == 0,
                     "SimCC decoder expects [N*\(keypoints), \(width)], got \(x.dims)")
        let rows = x.dims[0], n = rows / keypoints
        let z = try x.plain()
        var p = [Float](repeating: 0, count: z.count)
        var lse = [Float](repeating: 0, count: 2 * rows)
        var coordinates = [Float](repeating: 0, count: 2 * rows)
        let cx = SoftArgmax.centres(xBins), cy = SoftArgmax.centres(yBins)
        z.withUnsafeBufferPointer { zb in
            p.withUnsafeMutableBufferPointer { pb in
                for r in 0..<rows {
                    let bx = r * width, by = bx + xBins
                    lse[2 * r] = SoftArgmax.softmax(zb.baseAddress! + bx, into: pb.baseAddress! + bx, count: xBins)
                    lse[2 * r + 1] = SoftArgmax.softmax(zb.baseAddress! + by, into: pb.baseAddress! + by, count: yBins)
                    var ex: Float = 0, ey: Float = 0
                    for b in 0..<xBins { ex += pb[bx + b] * cx[b] }
                    for b in 0..<yBins { ey += pb[by + b] * cy[b] }
                    coordinates[2 * r] = ex
                    coordinates[2 * r + 1] = ey
                }
            }
        }
        if outputs[n] == nil { outputs[n] = try Tensor([n, 2 * keypoints], layout: .nc, engine: engine) }
        let out = outputs[n]!
        try out.load(plain: coordinates)
        last = (rows, z, p, lse, coordinates)
        pending = nil
        return out
    }

    /// Adds `weight` x sum over labelled keypoints of KL(qx || px) + KL(qy || py), q the 1-D
    /// Gaussians of deviation `sigma` (normalised units) around the target (SimCC's label
    /// smoothing); the gradient weight m (p - q) joins the next backward. `targets` [N, 2K], `mask` [N, K].
    public func distributionLoss(targets: [Float], mask: [Float], sigma: Float, weight: Float) throws -> Float {
        guard let last else { throw ModelError("AxisSoftArgmax.distributionLoss called before forward") }
        precondition(targets.count == 2 * last.rows && mask.count == last.rows,
                     "distribution loss: \(targets.count) targets for \(last.rows) keypoint rows")
        var gradient = pending ?? [Float](repeating: 0, count: last.logits.count)
        var total: Float = 0
        for r in 0..<last.rows where mask[r] > 0 {
            let scale = weight * mask[r]
            for (axis, bins, offset) in [(0, xBins, 0), (1, yBins, xBins)] {
                let q = SoftArgmax.gaussian(cells: bins, target: targets[2 * r + axis], sigma: sigma)
                let base = r * width + offset
                let kl = q.withUnsafeBufferPointer { qb in
                    last.logits.withUnsafeBufferPointer { zb in
                        SoftArgmax.divergence(target: qb.baseAddress!, logits: zb.baseAddress! + base,
                                              logSumExp: last.logSumExp[2 * r + axis], count: bins)
                    }
                }
                total += scale * kl
                for b in 0..<bins { gradient[base + b] += scale * (last.probabilities[base + b] - q[b]) }
            }
        }
        pending = gradient
        return total
    }

    /// dz = p (dc (centre - expectation)) per axis, plus any distribution-loss gradient.
    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let last else { throw ModelError("AxisSoftArgmax.backward called before forward") }
        guard computesInputGradient else { return nil }
        let d = try dy.plain()
        var dz = pending ?? [Float](repeating: 0, count: last.logits.count)
        let cx = SoftArgmax.centres(xBins), cy = SoftArgmax.centres(yBins)
        for r in 0..<last.rows {
            let bx = r * width, by = bx + xBins
            let dex = d[2 * r], dey = d[2 * r + 1]
            let ex = last.coordinates[2 * r], ey = last.coordinates[2 * r + 1]
            for b in 0..<xBins { dz[bx + b] += last.probabilities[bx + b] * dex * (cx[b] - ex) }
            for b in 0..<yBins { dz[by + b] += last.probabilities[by + b] * dey * (cy[b] - ey) }
        }
        if inputGradients[last.rows] == nil { inputGradients[last.rows] = try Tensor([last.rows, width], layout: .nc, engine: engine) }
        let dx = inputGradients[last.rows]!
        try dx.load(plain: dz)
        pending = nil
        return dx
    }
}
