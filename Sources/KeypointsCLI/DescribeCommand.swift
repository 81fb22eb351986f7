// `keypoints describe`: the layer table (output shapes, parameters) and totals of a model or a
// configuration, and the training facts a saved model carries.
import ArgumentParser
import Compute
import Foundation
import Model
import Training

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
                                                                  names: (1...max(1, keypoints)).map { "kp\($0)" }))
        }
        let c = network.config, store = network.store
        print("MobileNetV1 alpha \(c.backbone.alpha), input \(c.backbone.inputSize)x\(c.backbone.inputSize)x3, "
              + "head GAP -> Dense(\(c.head.hidden), ReLU) -> Dropout(\(c.head.dropout)) -> Dense(\(2 * c.keypoints)), "
              + "K = \(c.keypoints) (\(c.keypointNames.joined(separator: ", ")))")
        print("layer".padding(toLength: 20, withPad: " ", startingAt: 0) + "kind".padding(toLength: 24, withPad: " ", startingAt: 0)
              + "output".padding(toLength: 18, withPad: " ", startingAt: 0) + "parameters")
        var dims = [1, 3, c.backbone.inputSize, c.backbone.inputSize]
        for (i, named) in network.layers.enumerated() {
            dims = named.layer.outputDims(for: dims)
            let prefix = (i < network.backbone.layers.count ? "backbone." : "head.") + named.name + "."
            let count = store.layout.parameters.filter { $0.name.hasPrefix(prefix) }.reduce(0) { $0 + $1.count }
            let shape = dims.dropFirst().map(String.init).joined(separator: "x")
            print(named.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                  + kind(named.layer).padding(toLength: 24, withPad: " ", startingAt: 0)
                  + shape.padding(toLength: 18, withPad: " ", startingAt: 0) + (count > 0 ? "\(count)" : ""))
        }
        let macs = c.backbone.units.reduce(0) { $0 + $1.geometry.multiplyAdds(h: inputSide($1.name, c), w: inputSide($1.name, c)) }
            + c.backbone.outputChannels * c.head.hidden + c.head.hidden * 2 * c.keypoints
        print("trainable parameters \(store.layout.parameterCount), BN statistics \(store.layout.statisticCount), "
              + String(format: "%.1f M multiply-adds per image", Double(macs) / 1e6))
        if !training.isEmpty {
            print("trained: " + training.keys.sorted().map { "\($0) \(training[$0]!)" }.joined(separator: ", "))
        }
    }

    /// The spatial side of a unit's input (the input halves at every stride-2 unit before it).
    private func inputSide(_ name: String, _ c: ModelConfig) -> Int {
        var side = c.backbone.inputSize
        for u in c.backbone.units {
            if u.name == name { return side }
            side /= u.geometry.stride
        }
        return side
    }

    private func kind(_ layer: any Layer) -> String {
        switch layer {
        case let conv as Convolution2D:
            let g = conv.geometry
            return g.groups > 1 ? "depthwise \(g.kernel)x\(g.kernel)/\(g.stride)" : "conv \(g.kernel)x\(g.kernel)/\(g.stride)"
        case is BatchNorm: return "batch norm"
        case let a as Activation: return a.kind == .relu6 ? "ReLU6" : "ReLU"
        case is GlobalAveragePool: return "global average pool"
        case is Linear: return "dense"
        case is Dropout: return "dropout"
        default: return String(describing: type(of: layer))
        }
    }
}
