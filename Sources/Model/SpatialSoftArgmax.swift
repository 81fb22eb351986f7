// Integral regression over heatmaps: bilinear upsampling of K logit maps, a spatial softmax per map,
// and the expected cell centre as the keypoint (soft-argmax, as in DSNT and integral pose regression).
import Compute

/// Input [N, K, h, w] logits (any 4-D layout); output [N, 2K] plain (`.nc`): for each map the
/// expected (x, y) of its cells' centres in normalised input-frame coordinates, under the softmax
/// over the H x W = (u h) x (u w) cells after bilinear upsampling by `upsample` = u (half-pixel
/// centres, edges clamped, as PyTorch's `align_corners=False`). No parameters.
public final class SpatialSoftArgmax: DistributionDecoder {
    public let upsample: Int
    public var computesInputGradient = true
    public var computesParameterGradients = true
    private let engine: Engine
    private var outputs: [Int: Tensor] = [:]
    private var inputGradients: [ShapeKey: Tensor] = [:]
    /// The last forward's input shape, upsampled logits z and probabilities p, [N, K, H, W] each,
    /// and each map's log-sum-exp [N, K].
    private var last: (input: ShapeKey, logits: [Float], probabilities: [Float], logSumExp: [Float], coordinates: [Float])?
    /// dLoss/dz [N, K, H, W] from `distributionLoss`, added in the next backward.
    private var pending: [Float]?
    /// Per map size h x w: the interpolation matrices Ay [H, h], Ax [W, w] and the cell centres
    /// of the H x W grid, made once (forward and backward run every micro-batch).
    private var grids: [[Int]: (ay: [Float], ax: [Float], cy: [Float], cx: [Float])] = [:]

    private func grid(h: Int, w: Int) -> (ay: [Float], ax: [Float], cy: [Float], cx: [Float]) {
        if let g = grids[[h, w]] { return g }
        let g = (Self.interpolation(cells: h, factor: upsample), Self.interpolation(cells: w, factor: upsample),
                 SoftArgmax.centres(h * upsample), SoftArgmax.centres(w * upsample))
        grids[[h, w]] = g
        return g
    }

    public init(upsample: Int, engine: Engine = .cpu) {
        precondition(upsample >= 1, "upsample must be at least 1")
        self.upsample = upsample
        self.engine = engine
    }

    public func outputDims(for input: [Int]) -> [Int] { [input[0], 2 * input[1]] }

    /// The [u n, n] bilinear interpolation matrix of one axis (row-major).
    public static func interpolation(cells n: Int, factor u: Int) -> [Float] {
        var a = [Float](repeating: 0, count: u * n * n)
        for o in 0..<(u * n) {
            let source = min(max((Float(o) + 0.5) / Float(u) - 0.5, 0), Float(n - 1))
            let i0 = Int(source), i1 = min(i0 + 1, n - 1), f = source - Float(i0)
            a[o * n + i0] += 1 - f
            a[o * n + i1] += f
        }
        return a
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        let (n, k, h, w) = (x.dims[0], x.dims[1], x.dims[2], x.dims[3])
        let (bigH, bigW) = (h * upsample, w * upsample)
        let cells = bigH * bigW
        let input = try x.plain()
        var z = upsample == 1 ? input : [Float](repeating: 0, count: n * k * cells)
        let (ay, ax, cy, cx) = grid(h: h, w: w)
        if upsample > 1 {
            var t = [Float](repeating: 0, count: h * bigW)
            for m in 0..<(n * k) {
                // t = L Ax^T ([h, W]), then z = Ay t ([H, W]).
                for i in 0..<h {
                    for o in 0..<bigW {
                        var s: Float = 0
                        for j in 0..<w { s += input[m * h * w + i * w + j] * ax[o * w + j] }
                        t[i * bigW + o] = s
                    }
                }
                for o in 0..<bigH {
                    for c in 0..<bigW {
                        var s: Float = 0
                        for i in 0..<h { s += ay[o * h + i] * t[i * bigW + c] }
                        z[m * cells + o * bigW + c] = s
                    }
                }
            }
        }
        var p = [Float](repeating: 0, count: n * k * cells)
        var lse = [Float](repeating: 0, count: n * k)
        var coordinates = [Float](repeating: 0, count: n * 2 * k)
        z.withUnsafeBufferPointer { zb in
            p.withUnsafeMutableBufferPointer { pb in
                for m in 0..<(n * k) {
                    let base = m * cells
                    lse[m] = SoftArgmax.softmax(zb.baseAddress! + base, into: pb.baseAddress! + base, count: cells)
                    var ex: Float = 0, ey: Float = 0
                    for r in 0..<bigH {
                        var row: Float = 0
                        for c in 0..<bigW {
                            let v = pb[base + r * bigW + c]
                            row += v
                            ex += v * cx[c]
                        }
                        ey += row * cy[r]
                    }
                    coordinates[2 * m] = ex
                    coordinates[2 * m + 1] = ey
                }
            }
        }
        if outputs[n] == nil { outputs[n] = try Tensor([n, 2 * k], layout: .nc, engine: engine) }
        let out = outputs[n]!
        try out.load(plain: coordinates)
        last = (x.shapeKey, z, p, lse, coordinates)
        pending = nil
        return out
    }

    /// Adds `weight` x sum over labelled maps of KL(q || p), q the product of per-axis Gaussians
    /// of deviation `sigma` (normalised units) around the target; its gradient weight m (p - q)
    /// joins the next backward. `targets` [N, 2K], `mask` [N, K].
    public func distributionLoss(targets: [Float], mask: [Float], sigma: Float, weight: Float) throws -> Float {
        guard let last else { throw ModelError("SpatialSoftArgmax.distributionLoss called before forward") }
        let (n, k, h, w) = (last.input.dims[0], last.input.dims[1], last.input.dims[2], last.input.dims[3])
        precondition(targets.count == n * 2 * k && mask.count == n * k, "distribution loss: \(targets.count) targets for \(n)x\(k) maps")
        let (bigH, bigW) = (h * upsample, w * upsample)
        let cells = bigH * bigW
        var gradient = pending ?? [Float](repeating: 0, count: n * k * cells)
        var total: Float = 0
        var q = [Float](repeating: 0, count: cells)
        for m in 0..<(n * k) where mask[m] > 0 {
            let gx = SoftArgmax.gaussian(cells: bigW, target: targets[2 * m], sigma: sigma)
            let gy = SoftArgmax.gaussian(cells: bigH, target: targets[2 * m + 1], sigma: sigma)
            for r in 0..<bigH { for c in 0..<bigW { q[r * bigW + c] = gy[r] * gx[c] } }
            let base = m * cells
            let kl = q.withUnsafeBufferPointer { qb in
                last.logits.withUnsafeBufferPointer { zb in
                    SoftArgmax.divergence(target: qb.baseAddress!, logits: zb.baseAddress! + base, logSumExp: last.logSumExp[m], count: cells)
                }
            }
            total += weight * mask[m] * kl
            let scale = weight * mask[m]
            for i in 0..<cells { gradient[base + i] += scale * (last.probabilities[base + i] - q[i]) }
        }
        pending = gradient
        return total
    }

    /// dz = p (dx (cx - ex) + dy (cy - ey)) plus any distribution-loss gradient, then through the
    /// upsampling's transpose to dLogits [N, K, h, w] in the input's layout.
    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let last else { throw ModelError("SpatialSoftArgmax.backward called before forward") }
        guard computesInputGradient else { return nil }
        let (n, k, h, w) = (last.input.dims[0], last.input.dims[1], last.input.dims[2], last.input.dims[3])
        let (bigH, bigW) = (h * upsample, w * upsample)
        let cells = bigH * bigW
        let d = try dy.plain()
        var dz = pending ?? [Float](repeating: 0, count: n * k * cells)
        let (ay, ax, cy, cx) = grid(h: h, w: w)
        for m in 0..<(n * k) {
            let dex = d[2 * m], dey = d[2 * m + 1]
            let ex = last.coordinates[2 * m], ey = last.coordinates[2 * m + 1]
            let base = m * cells
            for r in 0..<bigH {
                let yTerm = dey * (cy[r] - ey)
                for c in 0..<bigW {
                    let i = base + r * bigW + c
                    dz[i] += last.probabilities[i] * (dex * (cx[c] - ex) + yTerm)
                }
            }
        }
        var dl = upsample == 1 ? dz : [Float](repeating: 0, count: n * k * h * w)
        if upsample > 1 {
            var t = [Float](repeating: 0, count: h * bigW)
            for m in 0..<(n * k) {
                // t = Ay^T dz ([h, W]), then dL = t Ax ([h, w]).
                for i in 0..<h {
                    for c in 0..<bigW {
                        var s: Float = 0
                        for o in 0..<bigH { s += ay[o * h + i] * dz[m * cells + o * bigW + c] }
                        t[i * bigW + c] = s
                    }
                }
                for i in 0..<h {
                    for j in 0..<w {
                        var s: Float = 0
                        for c in 0..<bigW { s += t[i * bigW + c] * ax[c * w + j] }
                        dl[m * h * w + i * w + j] = s
                    }
                }
            }
        }
        if inputGradients[last.input] == nil {
            inputGradients[last.input] = try Tensor(last.input.dims, layout: last.input.layout, engine: engine)
        }
        let dx = inputGradients[last.input]!
        try dx.load(plain: dl)
        pending = nil
        return dx
    }
}
