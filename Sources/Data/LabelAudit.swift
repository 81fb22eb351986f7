// What to check in labels before training on them: per keypoint, how many images have it labelled,
// occluded, unlabelled or labelled outside the image; images whose bytes are identical; and likely
// left/right swaps, found through the flip pairs: for each pair, the side its first point is usually
// on, and the images where it is on the other side.
import Foundation

public struct LabelAudit: Sendable {
    /// One keypoint's label counts over the dataset.
    public struct Counts: Sendable, Codable, Equatable {
        public var name: String
        /// Labelled and visible (v = 2).
        public var visible = 0
        /// Labelled but occluded (v = 1).
        public var occluded = 0
        /// Not labelled (v = 0).
        public var unlabelled = 0
        /// Labelled, but outside the image (x or y below 0 or beyond the width or height).
        public var outOfFrame = 0
    }

    /// A flip pair's orientation: how often its first keypoint lies left of the second (smaller x).
    public struct PairOrientation: Sendable, Codable, Equatable {
        public var first: String
        public var second: String
        /// Images with both labelled.
        public var images: Int
        /// The fraction of them with `first` left of `second`.
        public var firstLeft: Double
        /// The images on the minority side when the majority holds at least `LabelAudit.majority`
        /// of them (else empty: the pair flips too often, say in profile views, to call a side wrong).
        public var againstMajority: [String]
    }

    public var images: Int
    public var keypoints: [Counts]
    /// Groups (two or more) of image paths whose files are byte for byte the same.
    public var duplicates: [[String]]
    public var pairs: [PairOrientation]
    /// Images with a keypoint outside the frame: (image, keypoint name).
    public var outOfFrame: [(image: String, keypoint: String)]

    /// A pair's side counts as known when at least this fraction of images agree.
    public static let majority = 0.8

    /// Audits `dataset`'s labels and image bytes (image sizes read from the headers).
    public init(_ dataset: KeypointDataset) {
        let names = dataset.description.keypointNames, k = names.count
        images = dataset.count
        keypoints = names.map { Counts(name: $0) }
        outOfFrame = []
        var byHash: [[UInt8]: [String]] = [:]
        for (i, record) in dataset.labels.records.enumerated() {
            byHash[SHA256.hash(dataset.images[i]), default: []].append(record.imagePath)
            let size = try? ImageCodec.imageSize(dataset.images[i], path: record.imagePath)
            for j in 0..<k {
                switch Visibility(rawValue: record.visibility[j]) ?? .visible {
                case .unlabelled: keypoints[j].unlabelled += 1; continue
                case .occluded: keypoints[j].occluded += 1
                case .visible: keypoints[j].visible += 1
                }
                let x = record.keypoints[2 * j], y = record.keypoints[2 * j + 1]
                if let size, x < 0 || y < 0 || x > Float(size.width) || y > Float(size.height) {
                    keypoints[j].outOfFrame += 1
                    outOfFrame.append((record.imagePath, names[j]))
                }
            }
        }
        duplicates = byHash.values.filter { $0.count > 1 }.map { $0.sorted() }.sorted { $0[0] < $1[0] }
        pairs = dataset.description.flipPairs.filter { $0.count == 2 && $0.allSatisfy { $0 < k } }.map { pair in
            let (a, b) = (pair[0], pair[1])
            var left: [String] = [], right: [String] = []
            for record in dataset.labels.records where record.visibility[a] > 0 && record.visibility[b] > 0 {
                let dx = record.keypoints[2 * a] - record.keypoints[2 * b]
                if dx < 0 { left.append(record.imagePath) } else if dx > 0 { right.append(record.imagePath) }
            }
            let n = left.count + right.count, fraction = n == 0 ? 0 : Double(left.count) / Double(n)
            let minority = fraction >= Self.majority ? right : (1 - fraction >= Self.majority ? left : [])
            return PairOrientation(first: names[a], second: names[b], images: n, firstLeft: fraction, againstMajority: minority.sorted())
        }
    }

    /// Likely problems found: duplicates, out-of-frame points and likely swaps.
    public var findings: Int { duplicates.count + outOfFrame.count + pairs.reduce(0) { $0 + $1.againstMajority.count } }

    /// The audit as text for a person: a table of counts, then each finding with its images.
    public func report(listing limit: Int = 10) -> String {
        var lines = ["\(images) image(s), \(keypoints.count) keypoint(s)", "",
                     "keypoint".padding(toLength: 20, withPad: " ", startingAt: 0) + "   visible  occluded  unlabelled  out of frame"]
        for c in keypoints {
            lines.append(c.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                         + String(format: "  %8d  %8d  %10d  %12d", c.visible, c.occluded, c.unlabelled, c.outOfFrame))
        }
        func list(_ paths: [String]) -> [String] {
            paths.prefix(limit).map { "    \($0)" } + (paths.count > limit ? ["    ... and \(paths.count - limit) more"] : [])
        }
        lines.append("")
        if duplicates.isEmpty { lines.append("duplicate images: none") } else {
            lines.append("duplicate images: \(duplicates.count) group(s) of identical files (a duplicate across the train/validation split inflates the scores)")
            for group in duplicates.prefix(limit) { lines.append("    " + group.joined(separator: " = ")) }
        }
        if outOfFrame.isEmpty { lines.append("keypoints outside their image: none") } else {
            lines.append("keypoints outside their image: \(outOfFrame.count) (a label in the wrong image's pixels, or a typo)")
            lines += list(outOfFrame.map { "\($0.image): \($0.keypoint)" })
        }
        if pairs.isEmpty { lines.append("left/right swaps: not checked (the description declares no flip_pairs)") }
        for p in pairs {
            let side = String(format: "%@ is left of %@ in %.0f%% of %d image(s)", p.first, p.second, 100 * p.firstLeft, p.images)
            if p.againstMajority.isEmpty {
                let mixed = max(p.firstLeft, 1 - p.firstLeft) < Self.majority
                lines.append("left/right \(p.first)/\(p.second): \(side)" + (mixed ? "; too mixed to call any one wrong" : "; no likely swap"))
            } else {
                lines.append("left/right \(p.first)/\(p.second): \(side); \(p.againstMajority.count) image(s) the other way round "
                             + "(likely swapped labels):")
                lines += list(p.againstMajority)
            }
        }
        return lines.joined(separator: "\n")
    }
}
