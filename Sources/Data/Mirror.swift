// Horizontal mirroring of keypoints: x -> width - x, with the left/right pairs swapped, so that
// "left eye" still names the subject's left eye in the mirrored image.

/// Keypoints [2K] (pixels of an image `width` wide) as they are in the mirrored image.
/// Applying it twice gives the original keypoints back.
public func mirroredKeypoints(_ points: [Float], width: Int, flipPairs: [[Int]]) -> [Float] {
    var out = points
    for j in 0..<(points.count / 2) { out[2 * j] = Float(width) - points[2 * j] }
    for pair in flipPairs where pair.count == 2 {
        out.swapAt(2 * pair[0], 2 * pair[1])
        out.swapAt(2 * pair[0] + 1, 2 * pair[1] + 1)
    }
    return out
}
