// Keypoint accuracy as keypoint people report it, in pixels of the original images: RMSE, mean
// error, NME, PCK and error percentiles, overall and per keypoint, visibility-masked.
import Foundation

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
            guard let norm = normalizer.length(targets: targets[s], visible: visible[s], frame: sizes[s]), norm > 0 else { continue }
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
