// `keypoints export`: a saved model as a file other runtimes load (ONNX), optionally with reference
// inputs and outputs to check them against.
import ArgumentParser
import Data
import Foundation
import Interop
import Model
import Training
import ModelFiles

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a saved model for other runtimes (ONNX, opset 13), with reference samples on request.",
        discussion: """
            The ONNX graph takes `image`: float32 NCHW [N, 3, S, S], RGB pixel values in [0, 255] of the image \
            fitted to S x S as in training (letterbox unless the model was trained with --resize stretch); it \
            normalises them itself. It returns `keypoints`: float32 [N, 2K] = (x1, y1, ..., xK, yK) in [0, 1] of \
            the S x S frame. The file's metadata repeats this, with the keypoint names and how to map points back \
            to the original image.
            """)

    static let formats = ["onnx"]

    @Option(help: "A run folder (its best/ model, else last/) or a saved model folder.") var model: String
    @Option(help: "Output format: onnx.") var format: String = "onnx"
    @Option(help: "The file to write (e.g. model.onnx).") var out: String
    @Option(help: "Also write N seeded random images and our predictions for them to OUT-without-.onnx.samples.safetensors.")
    var samples: Int = 0
    @Option(help: "Seed of the sample images.") var seed: UInt64 = 0

    func validate() throws {
        guard Self.formats.contains(format) else {
            throw ValidationError("unknown --format \(format); use \(Self.formats.joined(separator: ", "))")
        }
        guard (0...64).contains(samples) else { throw ValidationError("--samples must be 0...64 (they run as one batch)") }
        guard !out.isEmpty, !out.hasSuffix("/") else { throw ValidationError("--out must name a file, got '\(out)'") }
    }

    /// Where `--samples` go: `out` with `.onnx` replaced by `.samples.safetensors`.
    static func samplesPath(for out: String) -> String {
        (out.hasSuffix(".onnx") ? String(out.dropLast(5)) : out) + ".samples.safetensors"
    }

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError("model folder \(model) does not exist; pass a run folder (`keypoints train --out RUN`) or a saved model in it")
        }
        let folder = URL(fileURLWithPath: out).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError("cannot write \(out): \(folder) is not an existing folder; create the folder first")
        }
        let url = try RunFolder.model(at: model).model
        let network = try SavedModel.load(from: url)
        let manifest = try SavedModel.manifest(at: url)
        let resize = manifest.training["resize"].flatMap(ResizeMode.init(rawValue:)) ?? .letterbox
        let bytes = try ONNXExport.serialized(network, resize: resize.rawValue,
                                              producerVersion: Keypoints.configuration.version, training: manifest.training)
        try write(Foundation.Data(bytes), to: out)
        let s = network.config.backbone.inputSize, k = network.config.keypoints
        print("wrote \(out) (\(bytes.count) bytes): ONNX opset \(ONNXExport.opset), input image [N, 3, \(s), \(s)] "
              + "pixels 0-255 (\(resize.rawValue)), output keypoints [N, \(2 * k)] in [0, 1] of the input frame")
        if samples > 0 {
            let path = Self.samplesPath(for: out)
            try write(try ExportSamples.safetensors(network, count: samples, seed: seed), to: path)
            print("wrote \(path): input [\(samples), 3, \(s), \(s)] and our output [\(samples), \(2 * k)]")
        }
    }

    /// Writes to a temporary file beside `path` and renames it into place; errors name the path.
    private func write(_ data: Foundation.Data, to path: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw ModelError("cannot write \(path): \(error.localizedDescription); check that its folder is writable")
        }
    }
}
