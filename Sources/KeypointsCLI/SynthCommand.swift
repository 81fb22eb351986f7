// `keypoints synth`: writes the generated card dataset to disk as images plus a labels CSV.
import ArgumentParser
import Data
import Foundation

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic keypoint dataset: cards in perspective on cluttered backgrounds, 4 corners each.",
        discussion: """
        Writes DIR/images/NNNNNN.jpg (or .png), DIR/labels.csv (image,top_left_x,top_left_y,top_left_v,...)
        and DIR/labels.keypoints.json (keypoint names, flip pairs, skeleton).
        """)

    @Option(help: "Folder to write into (created if needed).") var out: String
    @Option(help: "Number of images.") var count: Int = 1000
    @Option(help: "Image width in pixels (height is 3/4 of it).") var size: Int = 256
    @Option(help: "Seed: the same seed writes the same dataset.") var seed: UInt64 = 1
    @Option(help: "Image format: jpg or png.") var format: String = "jpg"
    @Option(help: "Threads generating images.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard size >= 32 && size <= 4096 else { throw ValidationError("--size must be 32...4096") }
        guard ["jpg", "png"].contains(format) else { throw ValidationError("--format must be jpg or png") }
    }

    func run() throws {
        useLineBufferedOutput()
        let root = URL(fileURLWithPath: out)
        let imageDir = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: imageDir, withIntermediateDirectories: true)
        let generator = SyntheticCards(size: size, seed: seed)
        let records = Records(count: count)
        let workers = max(1, min(threads, count))
        let failure = Records.Failure()
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in stride(from: w, to: count, by: workers) {
                let sample = generator.sample(i)
                let name = String(format: "%06d.%@", i, format)
                let path = imageDir.appendingPathComponent(name).path
                do {
                    let bytes = format == "png" ? try ImageCodec.encodePNG(sample.image)
                                                : try ImageCodec.encodeJPEG(sample.image, quality: 92)
                    try bytes.write(to: URL(fileURLWithPath: path), options: .atomic)
                } catch {
                    failure.set("\(path): \(error)")
                }
                records.set(i, LabelRecord(imagePath: path, keypoints: sample.keypoints, visibility: sample.visibility,
                                           source: "synthetic \(i)"))
            }
        }
        if let message = failure.message { throw DataError(out, "could not write an image (\(message)); check free space and permissions") }
        let labels = root.appendingPathComponent("labels.csv")
        let csv = CSVLabels.write(records.all, names: SyntheticCards.keypointNames, relativeTo: root.path)
        try csv.write(to: labels, atomically: true, encoding: .utf8)
        let description = """
        {
          "keypoints": ["top_left", "top_right", "bottom_right", "bottom_left"],
          "flip_pairs": [["top_left", "top_right"], ["bottom_left", "bottom_right"]],
          "skeleton": [[0, 1], [1, 2], [2, 3], [3, 0]]
        }

        """
        try description.write(to: root.appendingPathComponent("labels.keypoints.json"), atomically: true, encoding: .utf8)
        print("wrote \(count) images (\(generator.width)x\(generator.height) \(format)) and \(labels.path)")
    }
}

/// Slots filled by the generating threads, one slot per image.
private final class Records: @unchecked Sendable {
    private var slots: [LabelRecord?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: LabelRecord) { lock.lock(); slots[i] = r; lock.unlock() }
    var all: [LabelRecord] { slots.compactMap { $0 } }

    final class Failure: @unchecked Sendable {
        private(set) var message: String?
        private let lock = NSLock()
        func set(_ m: String) { lock.lock(); if message == nil { message = m }; lock.unlock() }
    }
}
