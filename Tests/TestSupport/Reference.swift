// Naive plain-Swift reference layers (forward only) on plain NCHW / NC arrays, written straight from
// the definitions with Double accumulation; the oneDNN layers are checked against these.
import Compute

public enum Reference {
    /// 2-D convolution without bias, written from the definition.
    /// x: [N, I, H, W]; weights: [O, I/groups, K, K]; y: [N, O, OH, OW] with
    /// OH = (H + top + bottom - K) / stride + 1 (likewise OW), and
    /// y[n,o,i,j] = sum_{c,kh,kw} x[n, g*(I/groups)+c, i*stride-top+kh, j*stride-left+kw] * w[o,c,kh,kw],
    /// g = o / (O/groups), out-of-range input pixels reading as zero.
    public static func convolution(_ x: [Float], dims: [Int], weights: [Float],
                                   geometry: ConvolutionGeometry) -> (y: [Float], dims: [Int]) {
        let (n, inC, h, w) = (dims[0], dims[1], dims[2], dims[3])
        let outC = geometry.outChannels, k = geometry.kernel, s = geometry.stride, groups = geometry.groups
        let p = geometry.padding
        precondition(inC == geometry.inChannels && weights.count == outC * (inC / groups) * k * k)
        let oh = (h + p.top + p.bottom - k) / s + 1, ow = (w + p.left + p.right - k) / s + 1
        let inPerGroup = inC / groups, outPerGroup = outC / groups
        var y = [Float](repeating: 0, count: n * outC * oh * ow)
        for b in 0..<n {
            for o in 0..<outC {
                let g = o / outPerGroup
                for i in 0..<oh {
                    for j in 0..<ow {
                        var sum = 0.0
                        for c in 0..<inPerGroup {
                            let ic = g * inPerGroup + c
                            for kh in 0..<k {
                                let row = i * s - p.top + kh
                                guard row >= 0 && row < h else { continue }
                                for kw in 0..<k {
                                    let col = j * s - p.left + kw
                                    guard col >= 0 && col < w else { continue }
                                    sum += Double(x[((b * inC + ic) * h + row) * w + col])
                                        * Double(weights[((o * inPerGroup + c) * k + kh) * k + kw])
                                }
                            }
                        }
                        y[((b * outC + o) * oh + i) * ow + j] = Float(sum)
                    }
                }
            }
        }
        return (y, [n, outC, oh, ow])
    }

    /// Per-channel mean and biased variance (divided by N*H*W) of x [N, C, H, W].
    public static func channelStatistics(_ x: [Float], dims: [Int]) -> (mean: [Float], variance: [Float]) {
        let (n, c, plane) = (dims[0], dims[1], dims[2] * dims[3])
        let m = Double(n * plane)
        var mean = [Float](repeating: 0, count: c), variance = [Float](repeating: 0, count: c)
        for ch in 0..<c {
            var sum = 0.0
            for b in 0..<n { for p in 0..<plane { sum += Double(x[(b * c + ch) * plane + p]) } }
            let mu = sum / m
            var squares = 0.0
            for b in 0..<n { for p in 0..<plane { let d = Double(x[(b * c + ch) * plane + p]) - mu; squares += d * d } }
            mean[ch] = Float(mu)
            variance[ch] = Float(squares / m)
        }
        return (mean, variance)
    }

    /// y = gamma * (x - mean) / sqrt(variance + epsilon) + beta per channel of x [N, C, H, W].
    public static func batchNorm(_ x: [Float], dims: [Int], mean: [Float], variance: [Float],
                                 gamma: [Float], beta: [Float], epsilon: Float) -> [Float] {
        let (n, c, plane) = (dims[0], dims[1], dims[2] * dims[3])
        var y = [Float](repeating: 0, count: x.count)
        for b in 0..<n {
            for ch in 0..<c {
                let inv = 1 / (Double(variance[ch]) + Double(epsilon)).squareRoot()
                for p in 0..<plane {
                    let i = (b * c + ch) * plane + p
                    y[i] = Float(Double(gamma[ch]) * (Double(x[i]) - Double(mean[ch])) * inv + Double(beta[ch]))
                }
            }
        }
        return y
    }

    /// Batch norm in training: normalised with the batch mean and biased variance, which it also returns.
    public static func batchNormTraining(_ x: [Float], dims: [Int], gamma: [Float], beta: [Float],
                                         epsilon: Float) -> (y: [Float], mean: [Float], variance: [Float]) {
        let (mean, variance) = channelStatistics(x, dims: dims)
        return (batchNorm(x, dims: dims, mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: epsilon),
                mean, variance)
    }

    /// max(x, 0).
    public static func relu(_ x: [Float]) -> [Float] { x.map { max($0, 0) } }

    /// min(max(x, 0), 6).
    public static func relu6(_ x: [Float]) -> [Float] { x.map { min(max($0, 0), 6) } }

    /// Mean over H x W of each channel: x [N, C, H, W] -> y [N, C].
    public static func globalAveragePool(_ x: [Float], dims: [Int]) -> [Float] {
        let (n, c, plane) = (dims[0], dims[1], dims[2] * dims[3])
        return (0..<(n * c)).map { nc in
            var sum = 0.0
            for p in 0..<plane { sum += Double(x[nc * plane + p]) }
            return Float(sum / Double(plane))
        }
    }

    /// y[n, o] = sum_i x[n, i] * w[o, i] + b[o]: x [N, I], weights [O, I], bias [O] -> y [N, O].
    public static func linear(_ x: [Float], batch: Int, weights: [Float], bias: [Float]) -> [Float] {
        let outF = bias.count, inF = x.count / batch
        precondition(weights.count == outF * inF)
        var y = [Float](repeating: 0, count: batch * outF)
        for b in 0..<batch {
            for o in 0..<outF {
                var sum = Double(bias[o])
                for i in 0..<inF { sum += Double(x[b * inF + i]) * Double(weights[o * inF + i]) }
                y[b * outF + o] = Float(sum)
            }
        }
        return y
    }

    /// Inverted-dropout multipliers for [N, C] features: sample n draws C uniforms from
    /// `SplitMix64(seed: seed, stream: n)`; feature j is kept (multiplier 1 / (1 - rate)) when its
    /// uniform is below 1 - rate, dropped (multiplier 0) otherwise.
    public static func dropoutMask(batch: Int, features: Int, rate: Float, seed: UInt64) -> [Float] {
        let keep = 1 - rate
        var mask: [Float] = []
        for n in 0..<batch {
            var rng = SplitMix64(seed: seed, stream: UInt64(n))
            for _ in 0..<features { mask.append(rng.nextUnit() < keep ? 1 / keep : 0) }
        }
        return mask
    }
}
