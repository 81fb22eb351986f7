// What keypoint errors are divided by for NME and PCK: the image diagonal, the labelled keypoints'
// bounding box, or the distance of two keypoints (the eyes: inter-ocular, as face papers report).
import Foundation

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

    /// The command-line and recorded form: `diagonal`, `bbox`, `pair:A,B` (1-based numbers).
    public var spec: String {
        switch self {
        case .diagonal: return "diagonal"
        case .boundingBox: return "bbox"
        case .pair(let a, let b): return "pair:\(a + 1),\(b + 1)"
        }
    }

    /// Parses `diagonal`, `bbox` or `pair:A,B`, where A and B are 1-based keypoint numbers or names
    /// from `keypointNames` (`pair:left_eye,right_eye`). The error says what is accepted.
    public init(spec: String, keypointNames: [String]) throws {
        switch spec {
        case "diagonal": self = .diagonal
        case "bbox": self = .boundingBox
        default:
            let ends = spec.hasPrefix("pair:") ? spec.dropFirst(5).split(separator: ",").map(String.init) : []
            let indices = ends.map { end -> Int? in
                if let n = Int(end) { return (1...keypointNames.count).contains(n) ? n - 1 : nil }
                return keypointNames.firstIndex(of: end)
            }
            guard indices.count == 2, let a = indices[0], let b = indices[1], a != b else {
                throw ModelError("normaliser '\(spec)' is not diagonal, bbox or pair:A,B with two different keypoints "
                    + "(1-based numbers up to \(keypointNames.count), or names: \(keypointNames.joined(separator: ", ")))")
            }
            self = .pair(a, b)
        }
    }

    /// The length one sample's errors are divided by, or nil when it cannot be measured (the pair
    /// not both labelled, no labelled keypoint).
    /// - Parameters:
    ///   - targets: [2K] ground truth in pixels of a `frame.width` x `frame.height` image.
    ///   - visible: [K], true where labelled.
    public func length(targets t: [Float], visible v: [Bool], frame: (width: Int, height: Int)) -> Double? {
        switch self {
        case .diagonal:
            return (Double(frame.width * frame.width + frame.height * frame.height)).squareRoot()
        case .boundingBox:
            let xs = v.indices.filter { v[$0] }.map { Double(t[2 * $0]) }, ys = v.indices.filter { v[$0] }.map { Double(t[2 * $0 + 1]) }
            guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else { return nil }
            return ((x1 - x0) * (y1 - y0)).squareRoot()
        case .pair(let a, let b):
            guard a < v.count, b < v.count, v[a], v[b] else { return nil }
            return KeypointDistance.distance([t[2 * a], t[2 * a + 1]], [t[2 * b], t[2 * b + 1]], point: 0)
        }
    }
}
