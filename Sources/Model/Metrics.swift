// Keypoint accuracy in pixels of the network input: RMSE, mean error, NME and PCK.
import Foundation

/// Accuracy of predictions against labels over labelled keypoints.
///
/// Errors are Euclidean distances in pixels of the frame the coordinates are normalised to (the
/// network input, `size` x `size`). NME and PCK normalise by that frame's diagonal.
public struct KeypointMetrics: Sendable, Codable, Equatable {
    /// Root of the mean squared per-keypoint distance, pixels.
    public var rmse: Double
    /// Mean per-keypoint distance, pixels.
    public var meanError: Double
    /// Mean distance / diagonal.
    public var nme: Double
    /// Fraction of keypoints within 0.05 and 0.1 of the diagonal.
    public var pck05: Double
    public var pck10: Double
    /// Number of labelled keypoints measured.
    public var count: Int

    /// - Parameters: predictions, targets [N, 2K] normalised; mask [N, K]; size the frame side in pixels.
    public init(predictions: [Float], targets: [Float], mask: [Float], size: Int) {
        let diagonal = Double(size) * 2.0.squareRoot()
        var sq = 0.0, sum = 0.0, within05 = 0, within10 = 0, n = 0
        for k in 0..<mask.count where mask[k] > 0 {
            let d = KeypointDistance.distance(predictions, targets, point: k, scale: Double(size))
            sq += d * d; sum += d; n += 1
            if d <= 0.05 * diagonal { within05 += 1 }
            if d <= 0.1 * diagonal { within10 += 1 }
        }
        let c = Double(max(n, 1))
        rmse = (sq / c).squareRoot()
        meanError = sum / c
        nme = meanError / diagonal
        pck05 = Double(within05) / c
        pck10 = Double(within10) / c
        count = n
    }

    /// One line for logs: `rmse 3.21 px, mean 2.80 px, NME 0.0206, PCK@0.05 91.2%, PCK@0.1 99.0%`.
    public var summary: String {
        func f(_ x: Double, _ d: Int) -> String { String(format: "%.\(d)f", x) }
        return "rmse \(f(rmse, 2)) px, mean \(f(meanError, 2)) px, NME \(f(nme, 4)), "
            + "PCK@0.05 \(f(100 * pck05, 1))%, PCK@0.1 \(f(100 * pck10, 1))%"
    }
}


