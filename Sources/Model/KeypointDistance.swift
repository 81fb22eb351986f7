// The one keypoint-error computation: the Euclidean distance between a predicted and a true point,
// used by the training metrics, the evaluation report and the evaluate command's worst images.

public enum KeypointDistance {
    /// Distance between point `j` of `predicted` and of `target`, both [.., x_j, y_j, ..] in the
    /// same coordinates, times `scale` (e.g. the frame side, for coordinates normalised to [0, 1]).
    @inline(__always)
    public static func distance(_ predicted: [Float], _ target: [Float], point j: Int, scale: Double = 1) -> Double {
        let dx = Double(predicted[2 * j] - target[2 * j]) * scale
        let dy = Double(predicted[2 * j + 1] - target[2 * j + 1]) * scale
        return (dx * dx + dy * dy).squareRoot()
    }

    /// Mean distance over the points marked `visible` (0 when none is).
    public static func meanDistance(_ predicted: [Float], _ target: [Float], visible: [Bool]) -> Double {
        let points = visible.indices.filter { visible[$0] }
        guard !points.isEmpty else { return 0 }
        return points.reduce(0) { $0 + distance(predicted, target, point: $1) } / Double(points.count)
    }
}
