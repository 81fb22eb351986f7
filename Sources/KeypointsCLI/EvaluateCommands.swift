// `keypoints predict` and `keypoints evaluate`: a saved model on new images, and on labelled ones.
import ArgumentParser
import Data
import Foundation
import Model
import Training

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict keypoints in images, in each image's own pixels (CSV that can be used as labels, or JSON).")

    @Option(help: "A run folder (its best/ model, else last/) or a saved model folder.") var model: String
    @Argument(help: "Image files or folders of images.") var inputs: [String]
    @Option(help: "csv or json.") var format: String = "csv"
    @Option(help: "Write here instead of standard output (CSV image paths become relative to its folder).") var out: String?
    @Option(help: "Images per forward pass.") var batch: Int = 32
    @Option(help: "Also write each image with its predicted keypoints drawn, as PNG, into this folder.") var overlay: String?

    func validate() throws {
        guard ["csv", "json"].contains(format) else { throw ValidationError("--format must be csv or json") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        let predictor = try Predictor(model: try RunFolder.model(at: model).model.path)
        var paths: [String] = [], images: [RGBImage] = [], failed = 0
        for path in try Self.imageFiles(inputs) {
            do { images.append(try ImageCodec.load(path: path)); paths.append(path) } catch {
                FileHandle.standardError.write(Foundation.Data("skipped: \(error)\n".utf8))
                failed += 1
            }
        }
        let predictions = try predictor.predict(images, batch: batch)
        if let overlay {
            for (i, image) in images.enumerated() {
                try Overlays.write(image.withPredictions(predictions[i]), name: paths[i], to: overlay)
            }
        }
        let text: String
        if format == "csv" {
            let folder = out.map { ((($0 as NSString).deletingLastPathComponent) as String) } ?? FileManager.default.currentDirectoryPath
            let records = zip(paths, predictions).map { path, points in
                LabelRecord(imagePath: URL(fileURLWithPath: path).standardizedFileURL.path, keypoints: points,
                            visibility: [UInt8](repeating: 2, count: predictor.names.count), source: path)
            }
            text = CSVLabels.write(records, names: predictor.names, relativeTo: folder.isEmpty ? "." : folder)
        } else {
            let rows: [[String: Any]] = zip(paths, predictions).map { path, points in
                ["image": path, "keypoints": Dictionary(uniqueKeysWithValues: predictor.names.enumerated().map {
                    ($1, [Double(points[2 * $0]), Double(points[2 * $0 + 1])]) })]
            }
            text = String(decoding: try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys]),
                          as: UTF8.self) + "\n"
        }
        if let out { try text.write(toFile: out, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
        if failed > 0 {
            FileHandle.standardError.write(Foundation.Data("\(failed) image(s) could not be read; the others were predicted\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Files as given, folders expanded to their JPEG and PNG files (sorted).
    static func imageFiles(_ inputs: [String]) throws -> [String] {
        var files: [String] = []
        for input in inputs {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: input, isDirectory: &isDir), isDir.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: input).sorted()
                files += names.filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }
                    .map { (input as NSString).appendingPathComponent($0) }
            } else {
                files.append(input)
            }
        }
        return files
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a saved model on labelled images: RMSE, mean error, NME, PCK and percentiles, per keypoint.")

    @Option(help: "A run folder (its best/ model, else last/) or a saved model folder.") var model: String
    @Option(help: "Labels of the images to measure on (CSV, COCO JSON, DeepLabCut CSV, or a YOLO-pose YAML: its val: split); default with a run: its held-out split/val.csv.")
    var data: String?
    @Option(help: "NME/PCK normaliser: diagonal, bbox, or pair:A,B (1-based keypoint numbers or names).") var normalize: String = "diagonal"
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(name: .customLong("skip-bad"), help: "Skip bad samples instead of stopping.") var skipBad = false
    @Option(help: "Also write each image with ground truth and prediction drawn (PNG), and worst.png, into this folder.")
    var overlay: String?
    @Option(help: "Images on the contact sheet of the worst (highest mean error) images.") var worst: Int = 16
    @Flag(name: .customLong("flip-tta"), help: "Average each prediction with that of the mirrored image (needs flip_pairs).")
    var flipTTA = false

    func run() throws {
        let (modelFolder, run) = try RunFolder.model(at: model)
        let predictor = try Predictor(model: modelFolder.path)
        let normalizer = try parseNormalizer(names: predictor.names)
        guard let data = data ?? run?.validationSplit.path else {
            throw ValidationError("--data is needed: \(model) is a saved model outside a run folder, so no held-out split is known")
        }
        // A YOLO-pose dataset YAML is measured on its val: split (the images it holds out).
        let yaml = YOLOPoseLabels.hasValidationSplit(data)
        let dataset = try KeypointDataset.load(labels: data, skipBad: skipBad, split: yaml ? "val" : "train")
        let origin = try heldOutNote(run: run, data: data, dataset: dataset, modelFolder: modelFolder)
        guard dataset.description.keypointCount == predictor.names.count else {
            throw ValidationError("\(data) has \(dataset.description.keypointCount) keypoints, the model predicts \(predictor.names.count)")
        }
        let images = try (0..<dataset.count).map { try dataset.image($0) }
        let predictions: [[Float]]
        if flipTTA {
            guard dataset.description.flipPairsDeclared else {
                throw ValidationError("--flip-tta needs the dataset's left/right pairs: add \"flip_pairs\" to its description file")
            }
            predictions = try predictor.predictWithFlip(images, flipPairs: dataset.description.flipPairs)
        } else {
            predictions = try predictor.predict(images)
        }
        let records = dataset.labels.records
        let report = EvaluationReport(predictions: predictions, targets: records.map(\.keypoints),
                                      visible: records.map { $0.visibility.map { $0 > 0 } },
                                      sizes: images.map { ($0.width, $0.height) }, names: predictor.names, normalizer: normalizer)
        if let overlay {
            var scored: [(error: Double, picture: RGBImage)] = []
            for (i, record) in records.enumerated() {
                let visible = record.visibility.map { $0 > 0 }
                let picture = images[i].withPredictions(predictions[i], truth: record.keypoints, visible: visible,
                                            skeleton: dataset.description.skeleton)
                try Overlays.write(picture, name: record.imagePath, to: overlay)
                scored.append((KeypointDistance.meanDistance(predictions[i], record.keypoints, visible: visible), picture))
            }
            let worstPictures = scored.sorted { $0.error > $1.error }.prefix(max(1, worst)).map(\.picture)
            try Overlays.write(Overlays.contactSheet(Array(worstPictures)), name: "worst", to: overlay)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("\(dataset.count) images from \(data)\(origin.map { " (\($0))" } ?? "")")
            print(report.table)
        }
    }

    /// Says which model is measured on what: a run's held-out split, or images it trained on (a
    /// warning, on standard error, since those figures are not held-out).
    private func heldOutNote(run: RunFolder?, data: String, dataset: KeypointDataset, modelFolder: URL) throws -> String? {
        guard let run else { return nil }
        let which = "model \(modelFolder.path)"
        let trained = try run.trainingImages()
        let seen = dataset.labels.records.filter { trained.contains($0.imagePath) }.count
        if seen > 0 {
            FileHandle.standardError.write(Foundation.Data(("warning: \(seen) of the \(dataset.count) images were trained on by "
                + "this run (\(run.trainSplit.path)): these figures are not held-out; evaluate --model \(run.url.path) "
                + "without --data measures the held-out split\n").utf8))
            return "\(which); \(seen) of them trained on"
        }
        return URL(fileURLWithPath: data).standardizedFileURL.path == run.validationSplit.path
            ? "\(which), on the run's held-out split" : which
    }

    private func parseNormalizer(names: [String]) throws -> Normalizer {
        do { return try Normalizer(spec: normalize, keypointNames: names) } catch let e as ModelError {
            throw ValidationError("--normalize: \(e.description)")
        }
    }
}
