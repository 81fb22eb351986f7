// What a keypoint dataset says about its images: labelled records and the dataset description.
import Foundation

/// Visibility of a keypoint, as COCO defines it.
public enum Visibility: UInt8, Sendable {
    /// Not labelled: masked from the loss and the metrics.
    case unlabelled = 0
    /// Labelled but hidden behind something.
    case occluded = 1
    /// Labelled and visible.
    case visible = 2
}

/// One labelled image: where it is, its K keypoints in pixels of the original image, and where the
/// label came from (for error messages).
public struct LabelRecord: Sendable, Equatable {
    /// Absolute path of the image.
    public var imagePath: String
    /// [2K] = x1, y1, ..., xK, yK in pixels of the original image (continuous coordinates,
    /// (0, 0) = top-left corner of the top-left pixel).
    public var keypoints: [Float]
    /// [K] raw visibility values (see ``Visibility``).
    public var visibility: [UInt8]
    /// `file:line` (CSV) or `file` with the annotation id (COCO) the record came from.
    public var source: String

    public init(imagePath: String, keypoints: [Float], visibility: [UInt8], source: String) {
        self.imagePath = imagePath
        self.keypoints = keypoints
        self.visibility = visibility
        self.source = source
    }

    public var keypointCount: Int { visibility.count }
}

/// Names, left/right pairs and skeleton of a dataset's keypoints.
public struct DatasetDescription: Sendable, Equatable, Codable {
    /// K names, in label order.
    public var keypointNames: [String]
    /// Pairs of keypoint indices (0-based) that swap under a horizontal flip (left eye <-> right eye).
    public var flipPairs: [[Int]]
    /// Pairs of keypoint indices (0-based) joined by a line when drawing.
    public var skeleton: [[Int]]
    /// True when the dataset declared its flip pairs (possibly none): only then may training flip.
    public var flipPairsDeclared: Bool

    public init(keypointNames: [String], flipPairs: [[Int]] = [], skeleton: [[Int]] = [], flipPairsDeclared: Bool = false) {
        self.keypointNames = keypointNames
        self.flipPairs = flipPairs
        self.skeleton = skeleton
        self.flipPairsDeclared = flipPairsDeclared
    }

    public var keypointCount: Int { keypointNames.count }
}

/// A labels file read into memory.
public struct LabelSet: Sendable {
    public var records: [LabelRecord]
    public var description: DatasetDescription
    /// The labels file (CSV or COCO JSON) these came from.
    public var sourceFile: String

    public init(records: [LabelRecord], description: DatasetDescription, sourceFile: String) {
        self.records = records
        self.description = description
        self.sourceFile = sourceFile
    }
}
