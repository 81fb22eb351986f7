// `keypoints describe`: the layer table (output shapes, parameters) and totals of a model or a
// configuration, and the training facts a saved model carries.
import ArgumentParser
import Compute
import Foundation
import Model
import Training
import ModelFiles

struct Describe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's layers with output shapes and parameter counts, and how it was trained.")

    @Option(help: "A saved model folder; without it, the configuration given by the flags is described.") var model: String?
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Keypoints (without --model).") var keypoints: Int = 4

    func run() throws {
        let network: KeypointNetwork
        var training: [String: String] = [:]
        if let model {
            let url = try RunFolder.model(at: model).model
            let manifest = try SavedModel.manifest(at: url)
            if manifest.contents == ModelManifest.backboneOnly {
                let origin = manifest.training.keys.sorted().map { "\($0) \(manifest.training[$0]!)" }.joined(separator: ", ")
                print("a MobileNetV1 backbone only, alpha \(manifest.model.backbone.alpha) (\(origin)): "
                      + "start training from it with `keypoints train --init-from \(model)`")
                return
            }
            network = try SavedModel.load(from: url)
            training = try SavedModel.manifest(at: url).training
        } else {
            network = try KeypointNetwork(try modelOptions.config(keypoints: keypoints,
                                                                  names: (1...max(1, keypoints)).map { "kp\($0)" }, imageSide: nil))
        }
        for line in ModelSummary(network).lines { print(line) }
        if !training.isEmpty {
            print("trained: " + training.keys.sorted().map { "\($0) \(training[$0]!)" }.joined(separator: ", "))
        }
    }
}
