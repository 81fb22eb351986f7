// Plain-Swift references for the distribution heads, written from their definitions with Double
// accumulation: the 1x1 maps, bilinear upsampling point by point, softmax, expectation and the KL
// divergence to the Gaussian target. HeatmapHead and SimCCHead are checked against these.
import Foundation

extension Reference {
    /// logits[n, k, i, j] = sum_c w[k, c] x[n, c, i, j] for features x [N, C, h, w] and w [K, C].
    static func maps(_ x: [Float], dims: [Int], weights: [Float], keypoints k: Int) -> [Double] {
        let (n, c, h, w) = (dims[0], dims[1], dims[2], dims[3])
        var out = [Double](repeating: 0, count: n * k * h * w)
        for b in 0..<n { for m in 0..<k { for i in 0..<(h * w) {
            var s = 0.0
            for ch in 0..<c { s += Double(weights[m * c + ch]) * Double(x[(b * c + ch) * h * w + i]) }
            out[(b * k + m) * h * w + i] = s
        } } }
        return out
    }

    /// Softmax of `z`, and log(sum exp z).
    static func softmax(_ z: [Double]) -> (p: [Double], logSumExp: Double) {
        let top = z.max()!
        let e = z.map { exp($0 - top) }
        let s = e.reduce(0, +)
        return (e.map { $0 / s }, top + log(s))
    }

    /// Normalised Gaussian weights at cell centres (i + 0.5) / n around t with deviation sigma.
    static func gaussianCells(_ n: Int, target t: Double, sigma: Double) -> [Double] {
        let g = (0..<n).map { i -> Double in let d = (Double(i) + 0.5) / Double(n) - t; return -d * d / (2 * sigma * sigma) }
        return softmax(g).p
    }

    /// KL(q || softmax(z)).
    static func divergence(_ q: [Double], logits z: [Double]) -> Double {
        let (_, lse) = softmax(z)
        return zip(q, z).reduce(0) { $0 + ($1.0 > 0 ? $1.0 * (log($1.0) - $1.1 + lse) : 0) }
    }

    /// The heatmap head: maps from `weights` [K, C], each upsampled by `upsample` with the bilinear
    /// half-pixel rule (source (o + 0.5) / u - 0.5 clamped to [0, n - 1]), softmax over the cells,
    /// expected cell centre. Returns coordinates [N, 2K] and sum over masked keypoints of
    /// m KL(Gaussian(sigma) x Gaussian(sigma) || p).
    public static func heatmapHead(_ x: [Float], dims: [Int], weights: [Float], keypoints k: Int, upsample u: Int,
                                   targets: [Float], mask: [Float], sigma: Double) -> (coordinates: [Double], divergence: Double) {
        let (n, h, w) = (dims[0], dims[2], dims[3])
        let logits = maps(x, dims: dims, weights: weights, keypoints: k)
        let bigH = h * u, bigW = w * u
        func source(_ o: Int, _ size: Int) -> (Int, Int, Double) {
            let s = min(max((Double(o) + 0.5) / Double(u) - 0.5, 0), Double(size - 1))
            let i0 = Int(s.rounded(.down))
            return (i0, min(i0 + 1, size - 1), s - Double(i0))
        }
        var coordinates = [Double](repeating: 0, count: n * 2 * k)
        var total = 0.0
        for m in 0..<(n * k) {
            var z: [Double] = []
            for yy in 0..<bigH {
                let (y0, y1, fy) = source(yy, h)
                for xx in 0..<bigW {
                    let (x0, x1, fx) = source(xx, w)
                    let l = { (i: Int, j: Int) in logits[m * h * w + i * w + j] }
                    z.append((1 - fy) * ((1 - fx) * l(y0, x0) + fx * l(y0, x1)) + fy * ((1 - fx) * l(y1, x0) + fx * l(y1, x1)))
                }
            }
            let (p, _) = softmax(z)
            for yy in 0..<bigH { for xx in 0..<bigW {
                coordinates[2 * m] += p[yy * bigW + xx] * (Double(xx) + 0.5) / Double(bigW)
                coordinates[2 * m + 1] += p[yy * bigW + xx] * (Double(yy) + 0.5) / Double(bigH)
            } }
            if mask[m] > 0 {
                let gx = gaussianCells(bigW, target: Double(targets[2 * m]), sigma: sigma)
                let gy = gaussianCells(bigH, target: Double(targets[2 * m + 1]), sigma: sigma)
                let q = (0..<(bigH * bigW)).map { gy[$0 / bigW] * gx[$0 % bigW] }
                total += Double(mask[m]) * divergence(q, logits: z)
            }
        }
        return (coordinates, total)
    }

    /// The SimCC head: maps from `mapWeights` [K, C], each flattened to h*w features, then
    /// bins = binWeights [2B, h*w] f + binBias [2B] (B x-bins then B y-bins), softmax per axis,
    /// expected bin centre. Returns coordinates [N, 2K] and sum over masked keypoints of
    /// m (KL(qx || px) + KL(qy || py)) with Gaussian q of deviation sigma.
    public static func simccHead(_ x: [Float], dims: [Int], mapWeights: [Float], binWeights: [Float], binBias: [Float],
                                 keypoints k: Int, targets: [Float], mask: [Float], sigma: Double)
        -> (coordinates: [Double], divergence: Double) {
        let (n, h, w) = (dims[0], dims[2], dims[3])
        let cells = h * w, bins = binBias.count / 2
        let logits = maps(x, dims: dims, weights: mapWeights, keypoints: k)
        var coordinates = [Double](repeating: 0, count: n * 2 * k)
        var total = 0.0
        for m in 0..<(n * k) {
            for axis in 0..<2 {
                let z = (0..<bins).map { b -> Double in
                    let row = axis * bins + b
                    return (0..<cells).reduce(Double(binBias[row])) { $0 + Double(binWeights[row * cells + $1]) * logits[m * cells + $1] }
                }
                let (p, _) = softmax(z)
                coordinates[2 * m + axis] = (0..<bins).reduce(0) { $0 + p[$1] * (Double($1) + 0.5) / Double(bins) }
                if mask[m] > 0 {
                    let q = gaussianCells(bins, target: Double(targets[2 * m + axis]), sigma: sigma)
                    total += Double(mask[m]) * divergence(q, logits: z)
                }
            }
        }
        return (coordinates, total)
    }
}
