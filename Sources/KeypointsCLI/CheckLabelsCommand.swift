// `keypoints check-labels`: a contact sheet of the labelled images with named keypoints and a
// colour key, and a report of what to fix: counts per keypoint, bad samples, duplicates, points
// outside their image and likely left/right swaps.
import ArgumentParser
import Compute
import Data
import Foundation

struct CheckLabels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-labels",
        abstract: "Check labels before training: a PNG sheet of the images with named keypoints, and a report of likely mistakes.",
        discussion: """
        Reads every format --data does (CSV, COCO JSON, DeepLabCut CollectedData_*.csv, YOLO-pose dataset YAML).
        The sheet shows the images with findings first, then a seeded sample of the rest.
        """)

    @Option(help: "The labels to check (CSV, COCO keypoints JSON, DeepLabCut CollectedData_*.csv, or a YOLO-pose dataset .yaml).")
    var data: String
    @Option(help: "Dataset description (keypoint names, flip_pairs, skeleton); default: found next to the labels.")
    var describe: String?
    @Option(help: "The split of a YOLO-pose YAML to check (train or val).")
    var split: String = "train"
    @Option(help: "The contact sheet to write (PNG).")
    var out: String = "label-sheet.png"
    @Option(help: "Images on the sheet (0 = every image): those with findings first, then a seeded sample.")
    var sample: Int = 100
    @Option(help: "Tile side in pixels.")
    var tile: Int = 256
    @Option(help: "Seed of the sample.")
    var seed: UInt64 = 0
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Exit with status 1 when anything is found (for CI).") var strict = false

    func validate() throws {
        guard sample >= 0 else { throw ValidationError("--sample must be 0 (every image) or more") }
        guard (64...1024).contains(tile) else { throw ValidationError("--tile must be 64 to 1024 pixels") }
    }

    func run() throws {
        useLineBufferedOutput()
        let font = try Font(pixelHeight: 14), small = try Font(pixelHeight: max(10, tile / 22))
        let dataset = try KeypointDataset.load(labels: data, description: describe, skipBad: true, split: split)
        let audit = LabelAudit(dataset)
        let indices = sheetIndices(dataset, audit)
        let sheet = LabelSheet.render(dataset, indices: indices, tile: tile, font: font, small: small)
        do { try ImageCodec.encodePNG(sheet).write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
            throw DataError(out, "cannot write the sheet (\(error.localizedDescription)): check the folder and its permissions")
        }
        if json {
            print(try jsonReport(audit, dataset))
        } else {
            if !dataset.skipped.isEmpty {
                print("bad samples, left out of everything below (\(dataset.skipped.count)):")
                for e in dataset.skipped.prefix(20) { print("    \(e.description)") }
                if dataset.skipped.count > 20 { print("    ... and \(dataset.skipped.count - 20) more") }
            }
            print(audit.report())
            print("wrote \(out): \(indices.count) of \(dataset.count) image(s), \(sheet.width)x\(sheet.height) px; "
                  + "filled discs are visible keypoints, rings occluded ones")
        }
        // Images without a label (a YOLO dataset's backgrounds) are counted, not findings.
        let bad = dataset.skipped.filter { !$0.message.hasPrefix("skipped ") }
        if strict && (audit.findings > 0 || !bad.isEmpty) { throw ExitCode(1) }
    }

    /// Images with findings first (in the report's order), then a seeded sample of the others.
    private func sheetIndices(_ dataset: KeypointDataset, _ audit: LabelAudit) -> [Int] {
        let position = Dictionary(dataset.labels.records.enumerated().map { ($1.imagePath, $0) }, uniquingKeysWith: { a, _ in a })
        var flagged: [Int] = []
        for path in audit.outOfFrame.map(\.image) + audit.pairs.flatMap(\.againstMajority) + audit.duplicates.flatMap({ $0 }) {
            if let i = position[path], !flagged.contains(i) { flagged.append(i) }
        }
        let limit = sample == 0 ? dataset.count : sample
        var rest = Array(Set(0..<dataset.count).subtracting(flagged)).sorted()
        var rng = SplitMix64(seed: seed)
        rest.shuffle(using: &rng)
        return Array((flagged + rest).prefix(limit))
    }

    private func jsonReport(_ audit: LabelAudit, _ dataset: KeypointDataset) throws -> String {
        let object: [String: Any] = [
            "images": audit.images,
            "keypoints": audit.keypoints.map { ["name": $0.name, "visible": $0.visible, "occluded": $0.occluded,
                                                "unlabelled": $0.unlabelled, "out_of_frame": $0.outOfFrame] },
            "duplicates": audit.duplicates,
            "out_of_frame": audit.outOfFrame.map { ["image": $0.image, "keypoint": $0.keypoint] },
            "flip_pairs": audit.pairs.map { ["first": $0.first, "second": $0.second, "images": $0.images, "first_left": $0.firstLeft,
                                             "likely_swapped": $0.againstMajority] },
            "bad_samples": dataset.skipped.map(\.description),
            "findings": audit.findings,
            "sheet": out,
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
    }
}
