// The arithmetic the distribution heads share: softmax over cells, their expectation, and the
// Gaussian target with its KL divergence. Cells are evenly spaced on [0, 1]: cell i of n has its
// centre at (i + 0.5) / n in normalised input-frame coordinates.
#if canImport(Glibc)
import Glibc
#endif

enum SoftArgmax {
    /// Cell centres (i + 0.5) / n, i = 0..<n.
    static func centres(_ n: Int) -> [Float] { (0..<n).map { (Float($0) + 0.5) / Float(n) } }

    /// p = softmax(z) over `count` values in place of `p`; returns log(sum(exp(z))).
    @inline(__always)
    static func softmax(_ z: UnsafePointer<Float>, into p: UnsafeMutablePointer<Float>, count: Int) -> Float {
        var top = -Float.infinity
        for i in 0..<count { top = max(top, z[i]) }
        var sum: Float = 0
        for i in 0..<count {
            let e = expf(z[i] - top)
            p[i] = e
            sum += e
        }
        let inv = 1 / sum
        for i in 0..<count { p[i] *= inv }
        return top + logf(sum)
    }

    /// The Gaussian target over n cells around `target` (normalised) with deviation `sigma`
    /// (normalised), summing to 1. A target far outside [0, 1] puts all weight on the nearest cell.
    static func gaussian(cells n: Int, target: Float, sigma: Float) -> [Float] {
        let c = centres(n)
        let logits = c.map { -($0 - target) * ($0 - target) / (2 * sigma * sigma) }
        var q = [Float](repeating: 0, count: n)
        _ = logits.withUnsafeBufferPointer { z in
            q.withUnsafeMutableBufferPointer { softmax(z.baseAddress!, into: $0.baseAddress!, count: n) }
        }
        return q
    }

    /// KL(q || p) for p = softmax(z) with log-sum-exp `lse`: sum q (log q - z + lse).
    @inline(__always)
    static func divergence(target q: UnsafePointer<Float>, logits z: UnsafePointer<Float>, logSumExp lse: Float, count: Int) -> Float {
        var kl: Float = 0
        for i in 0..<count where q[i] > 0 { kl += q[i] * (logf(q[i]) - z[i] + lse) }
        return kl
    }
}
