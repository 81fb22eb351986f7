// Keypoint accuracy in pixels of the network input, as training reports it each epoch: RMSE, mean
// error, NME and PCK, normalised by the image diagonal or by the run's chosen normaliser.
import Foundation

/// Accuracy of predictions against labels over labelled keypoints.
///
/// Errors are Euclidean distances in pixels of the frame the coordinates are normalised to (the
/// network input, `size` x `size`). NME and PCK divide each error by its sample's `normalizer`
/// length in that frame (the diagonal by default; samples whose length cannot be measured, such as
/// a pair of which one point is unlabelled, count in RMSE and mean error but not in NME and PCK).
public struct KeypointMetrics: Sendable, Codable, Equatable {
    /// Root of the mean squared per-keypoint distance, pixels.
    public var rmse: Double
    /// Mean per-keypoint distance, pixels.
    public var meanError: Double
    /// Mean of distance / normaliser length.
    public var nme: Double
    /// Fraction of keypoints within 0.05 and 0.1 of the normaliser length.
    public var pck05: Double
    public var pck10: Double
    /// Number of labelled keypoints measured.
    public var count: Int
    /// What NME and PCK are normalised by (`diagonal`, `bbox`, `pair:A,B`).
    public var normalizer: String

    /// - Parameters: predictions, targets [N, 2K] normalised to [0, 1]; mask [N, K]; size the frame
    ///   side in pixels; keypoints K.
    public init(predictions: [Float], targets: [Float], mask: [Float], size: Int, keypoints k: Int,
                normalizer: Normalizer = .diagonal) {
        var sq = 0.0, sum = 0.0, n = 0, scaled: [Double] = []
        let samples = k > 0 ? mask.count / k : 0
        for s in 0..<samples {
            let points = (2 * s * k)..<(2 * (s + 1) * k)
            let target = Array(targets[points]).map { $0 * Float(size) }, predicted = Array(predictions[points]).map { $0 * Float(size) }
            let visible = (0..<k).map { mask[s * k + $0] > 0 }
            let length = normalizer.length(targets: target, visible: visible, frame: (size, size)).flatMap { $0 > 0 ? $0 : nil }
            for j in 0..<k where visible[j] {
                let d = KeypointDistance.distance(predicted, target, point: j)
                sq += d * d; sum += d; n += 1
                if let length { scaled.append(d / length) }
            }
        }
        let c = Double(max(n, 1)), m = Double(max(scaled.count, 1))
        rmse = (sq / c).squareRoot()
        meanError = sum / c
        nme = scaled.reduce(0, +) / m
        pck05 = Double(scaled.filter { $0 <= 0.05 }.count) / m
        pck10 = Double(scaled.filter { $0 <= 0.1 }.count) / m
        count = n
        self.normalizer = normalizer.spec
    }

    /// One line for logs: `rmse 3.21 px, mean 2.80 px, NME 0.0206, PCK@0.05 91.2%, PCK@0.1 99.0%`
    /// (with ` by pair:1,2` after NME when not normalised by the diagonal).
    public var summary: String {
        func f(_ x: Double, _ d: Int) -> String { String(format: "%.\(d)f", x) }
        return "rmse \(f(rmse, 2)) px, mean \(f(meanError, 2)) px, NME \(f(nme, 4))"
            + (normalizer == Normalizer.diagonal.spec ? "" : " by \(normalizer)")
            + ", PCK@0.05 \(f(100 * pck05, 1))%, PCK@0.1 \(f(100 * pck10, 1))%"
    }
}
