// A labelled dataset held in memory: the label records and each image's encoded bytes, checked
// before training starts so that bad input is reported up front, never mid-run.
import Foundation

/// Labels plus encoded images (JPEG/PNG bytes, decoded each time a sample is used).
public struct KeypointDataset: Sendable {
    public var labels: LabelSet
    /// Encoded image bytes, parallel to `labels.records`.
    public var images: [Foundation.Data]
    /// Samples left out because of bad input (only with `skipBad`), each naming its file and line.
    public var skipped: [DataError]

    public var count: Int { labels.records.count }
    public var description: DatasetDescription { labels.description }

    public init(labels: LabelSet, images: [Foundation.Data], skipped: [DataError] = []) {
        precondition(labels.records.count == images.count)
        self.labels = labels
        self.images = images
        self.skipped = skipped
    }

    /// Reads a labels file (CSV or COCO JSON) and every image it names, checking each: the image
    /// exists and its header decodes, and every labelled keypoint lies within the image (a margin of
    /// half the image size is tolerated, for corners just outside the frame). The first problem
    /// throws, naming file and line; with `skipBad` bad samples are left out and listed in `skipped`.
    public static func load(labels path: String, description: String? = nil, skipBad: Bool = false,
                            split: String = "train") throws -> KeypointDataset {
        let (set, skippedRows) = try LabelReader.read(path: path, description: description, skipBad: skipBad, split: split)
        var records: [LabelRecord] = [], images: [Foundation.Data] = []
        var skipped = skippedRows
        for record in set.records {
            do {
                let bytes = try readImage(record)
                try checkKeypoints(record, bytes)
                records.append(record)
                images.append(bytes)
            } catch let e as DataError {
                guard skipBad else { throw e }
                skipped.append(e)
            }
        }
        guard !records.isEmpty else {
            throw DataError(path, "no usable samples" + (skipped.isEmpty ? "" : " (\(skipped.count) skipped as bad)")
                + "; check that the labels name existing images")
        }
        var labels = set
        labels.records = records
        return KeypointDataset(labels: labels, images: images, skipped: skipped)
    }

    private static func readImage(_ record: LabelRecord) throws -> Foundation.Data {
        guard FileManager.default.fileExists(atPath: record.imagePath) else {
            throw DataError(record.source, "image \(record.imagePath) does not exist; fix the path or remove the row")
        }
        guard let bytes = FileManager.default.contents(atPath: record.imagePath) else {
            throw DataError(record.source, "image \(record.imagePath) cannot be read; check its permissions")
        }
        return bytes
    }

    private static func checkKeypoints(_ record: LabelRecord, _ bytes: Foundation.Data) throws {
        let size: (width: Int, height: Int)
        do { size = try ImageCodec.imageSize(bytes, path: record.imagePath) } catch let e as DataError {
            throw DataError(record.source, "\(e.description); re-export the image or remove the row")
        }
        let w = Float(size.width), h = Float(size.height)
        for k in 0..<record.keypointCount where record.visibility[k] > 0 {
            let x = record.keypoints[2 * k], y = record.keypoints[2 * k + 1]
            if x < -0.5 * w || x > 1.5 * w || y < -0.5 * h || y > 1.5 * h {
                throw DataError(record.source, "keypoint \(k + 1) at (\(x), \(y)) is far outside the \(size.width)x\(size.height) "
                    + "image \(record.imagePath); are x and y swapped, or the coordinates normalised? Labels are in pixels")
            }
        }
    }

    /// Decodes sample `i`; a file that changed on disk since loading still decodes from memory,
    /// and a corrupt one gives a DataError naming it.
    public func image(_ i: Int) throws -> RGBImage {
        try ImageCodec.decode(images[i], path: labels.records[i].imagePath)
    }

    /// The loader's view of this dataset.
    public var sampleSource: BatchLoader.SampleSource {
        let copy = self
        return { i in (try copy.image(i), copy.labels.records[i].keypoints, copy.labels.records[i].visibility) }
    }

    /// The median of the images' longer sides in pixels, read from the headers of up to `sample`
    /// images spread evenly over the set; nil for an empty set.
    public func medianLongSide(sample: Int = 256) -> Int? {
        guard count > 0 else { return nil }
        let step = max(1, count / sample)
        let sides = stride(from: 0, to: count, by: step).compactMap { i -> Int? in
            guard let size = try? ImageCodec.imageSize(images[i], path: labels.records[i].imagePath) else { return nil }
            return max(size.width, size.height)
        }.sorted()
        return sides.isEmpty ? nil : sides[sides.count / 2]
    }

    /// A dataset of the samples at `indices` (for a train/validation split).
    public func subset(_ indices: [Int]) -> KeypointDataset {
        var labels = self.labels
        labels.records = indices.map { self.labels.records[$0] }
        return KeypointDataset(labels: labels, images: indices.map { images[$0] }, skipped: [])
    }
}
