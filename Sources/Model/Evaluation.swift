// Keypoint accuracy as keypoint people report it, in pixels of the original images: RMSE, mean
// error, NME, PCK and error percentiles, overall and per keypoint, visibility-masked.
import Foundation

/// What an error is divided by for NME and PCK.
public enum Normalizer: Sendable, Equatable, CustomStringConvertible {
    /// The image's diagonal (the default: works for any K).
    case diagonal
    /// sqrt(width * height) of the bounding box of the sample's labelled ground-truth keypoints.
    case boundingBox
    /// The ground-truth distance between keypoints `a` and `b` (0-based), e.g. the eyes (inter-ocular).
    case pair(Int, Int)

    public var description: String {
        switch self {
        case .diagonal: return "image diagonal"
        case .boundingBox: return "keypoint bounding box"
        case .pair(let a, let b): return "distance of keypoints \(a + 1) and \(b + 1)"
        }
    }
}

/// Accuracy over a set of samples, with one block per keypoint.
public struct EvaluationReport: Sendable, Codable, Equatable {
    public struct Errors: Sendable, Codable, Equatable {
        /// Labelled keypoints measured.
        public var count: Int
        /// Pixels of the original images.
        public var rmse: Double
        public var meanError: Double
        public var p50: Double
        public var p90: Double
        public var p99: Double
        /// Mean of error / normaliser.
        public var nme: Double
        /// Share of keypoints with error / normaliser <= 0.05 and <= 0.1.
        public var pck05: Double
        public var pck10: Double
    }

    public var normalizer: String
    public var overall: Errors
    /// Keyed by keypoint name, in keypoint order in `keypointNames`.
    public var perKeypoint: [String: Errors]
    public var keypointNames: [String]

    /// - Parameters:
    ///   - predictions, targets: per sample [2K] in pixels of that sample's original image.
    ///   - visible: per sample [K], true where the keypoint is labelled.
    ///   - sizes: per sample (width, height) of the original image.
    public init(predictions: [[Float]], targets: [[Float]], visible: [[Bool]], sizes: [(width: Int, height: Int)],
                names: [String], normalizer: Normalizer) {
        let k = names.count
        var errors = [[Double]](repeating: [], count: k), scaled = [[Double]](repeating: [], count: k)
        for s in 0..<predictions.count {
            guard let norm = Self.normaliser(normalizer, targets[s], visible[s], sizes[s]), norm > 0 else { continue }
            for j in 0..<k where visible[s][j] {
                let e = KeypointDistance.distance(predictions[s], targets[s], point: j)
                errors[j].append(e)
                scaled[j].append(e / norm)
            }
        }
        self.normalizer = normalizer.description
        keypointNames = names
        overall = Self.summarise(errors.flatMap { $0 }, scaled.flatMap { $0 })
        var per: [String: Errors] = [:]
        for j in 0..<k { per[names[j]] = Self.summarise(errors[j], scaled[j]) }
        perKeypoint = per
    }

    static func normaliser(_ n: Normalizer, _ t: [Float], _ v: [Bool], _ size: (width: Int, height: Int)) -> Double? {
        switch n {
        case .diagonal:
            return (Double(size.width * size.width + size.height * size.height)).squareRoot()
        case .boundingBox:
            let xs = v.indices.filter { v[$0] }.map { Double(t[2 * $0]) }, ys = v.indices.filter { v[$0] }.map { Double(t[2 * $0 + 1]) }
            guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else { return nil }
            return ((x1 - x0) * (y1 - y0)).squareRoot()
        case .pair(let a, let b):
            guard a < v.count, b < v.count, v[a], v[b] else { return nil }
            let dx = Double(t[2 * a] - t[2 * b]), dy = Double(t[2 * a + 1] - t[2 * b + 1])
            return (dx * dx + dy * dy).squareRoot()
        }
    }

    static func summarise(_ e: [Double], _ s: [Double]) -> Errors {
        guard !e.isEmpty else { return Errors(count: 0, rmse: 0, meanError: 0, p50: 0, p90: 0, p99: 0, nme: 0, pck05: 0, pck10: 0) }
        let sorted = e.sorted(), n = Double(e.count)
        func percentile(_ p: Double) -> Double {
            // Linear interpolation between closest ranks (NumPy's default).
            let r = p * Double(sorted.count - 1), lo = Int(r.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
            return sorted[lo] + (sorted[hi] - sorted[lo]) * (r - Double(lo))
        }
        return Errors(count: e.count, rmse: (e.reduce(0) { $0 + $1 * $1 } / n).squareRoot(), meanError: e.reduce(0, +) / n,
                      p50: percentile(0.5), p90: percentile(0.9), p99: percentile(0.99), nme: s.reduce(0, +) / n,
                      pck05: Double(s.filter { $0 <= 0.05 }.count) / n, pck10: Double(s.filter { $0 <= 0.1 }.count) / n)
    }

    /// A table for the terminal.
    public var table: String {
        func row(_ name: String, _ e: Errors) -> String {
            name.padding(toLength: max(14, name.count), withPad: " ", startingAt: 0)
                + String(format: " %6d %8.2f %8.2f %8.2f %8.2f %8.2f %8.4f %7.1f%% %7.1f%%", e.count, e.rmse, e.meanError,
                         e.p50, e.p90, e.p99, e.nme, 100 * e.pck05, 100 * e.pck10)
        }
        var lines = ["errors in pixels of the original images; NME and PCK normalised by the \(normalizer)",
                     "keypoint        count     rmse     mean      p50      p90      p99      NME  PCK@0.05  PCK@0.1"]
        for name in keypointNames { lines.append(row(name, perKeypoint[name]!)) }
        lines.append(row("all", overall))
        return lines.joined(separator: "\n")
    }
}
