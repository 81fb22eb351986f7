// Saved models: a folder with `model.safetensors` (weights and BN statistics under their dotted
// names) and `model.json` (architecture, input size, K, keypoint names, normalisation).
import Foundation

/// The manifest written beside the weights. Everything needed to rebuild the network and to use
/// its outputs correctly.
public struct ModelManifest: Codable, Sendable, Equatable {
    public var format = "keypoints-model"
    public var version = 1
    public var architecture = "mobilenet_v1"
    public var model: ModelConfig
    /// How pixels become network inputs.
    public var inputNormalization = "x = pixel / 127.5 - 1 (RGB, [-1, 1]), NCHW [N, 3, S, S]"
    /// What the outputs mean.
    public var outputs = "[N, 2K] = (x1, y1, ..., xK, yK) in [0, 1] of the network input frame; pixels = value * S"
    /// Tensor layouts in the safetensors file.
    public var layouts = "conv weights [O, I/groups, KH, KW]; dense weights [out, in]; BN gamma/beta/running_mean/running_var [C]"
    /// Free-form facts about how the model was trained (steps, loss, metrics).
    public var training: [String: String] = [:]

    public init(model: ModelConfig, training: [String: String] = [:]) {
        self.model = model
        self.training = training
    }
}

public enum SavedModel {
    public static let weightsFile = "model.safetensors"
    public static let manifestFile = "model.json"

    /// Writes `network`'s parameters and statistics to `directory` (created if needed). Each file is
    /// written to a temporary name and renamed into place, so a crash never leaves a half-written file.
    public static func save(_ network: KeypointNetwork, to directory: URL, training: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = network.store
        let tensors = (store.layout.parameters + store.layout.statistics).map {
            NamedTensor(name: $0.name, shape: $0.shape, values: store.values($0.name)!)
        }
        let weights = try SafeTensors.encode(tensors, metadata: ["format": "keypoints-model", "architecture": "mobilenet_v1"])
        try weights.write(to: directory.appendingPathComponent(weightsFile), options: .atomic)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let manifest = try encoder.encode(ModelManifest(model: network.config, training: training))
        try manifest.write(to: directory.appendingPathComponent(manifestFile), options: .atomic)
    }

    /// Reads a manifest; errors name the file and say what to do.
    public static func manifest(at directory: URL) throws -> ModelManifest {
        let url = directory.appendingPathComponent(manifestFile)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelError("\(url.path) not found: a saved model is a folder holding \(manifestFile) and \(weightsFile)")
        }
        let manifest: ModelManifest
        do { manifest = try JSONDecoder().decode(ModelManifest.self, from: data) } catch {
            throw ModelError("\(url.path) is not a valid model manifest (\(error)); re-save the model")
        }
        guard manifest.format == "keypoints-model", manifest.version == 1 else {
            throw ModelError("\(url.path): format \(manifest.format) v\(manifest.version) is not readable by this build (expects keypoints-model v1)")
        }
        return manifest
    }

    /// Rebuilds the network a folder describes and loads its weights.
    public static func load(from directory: URL) throws -> KeypointNetwork {
        let manifest = try manifest(at: directory)
        let network = try KeypointNetwork(manifest.model)
        try loadWeights(into: network, from: directory.appendingPathComponent(weightsFile))
        return network
    }

    /// Loads every tensor the network declares from a safetensors file, checking names and shapes.
    public static func loadWeights(into network: KeypointNetwork, from url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelError("\(url.path) not found or unreadable")
        }
        let (tensors, _) = try SafeTensors.decode(data, source: url.path)
        let store = network.store
        for spec in store.layout.parameters + store.layout.statistics {
            guard let t = tensors[spec.name] else {
                throw ModelError("\(url.path) has no tensor \(spec.name): it was saved for a different architecture")
            }
            guard t.shape == spec.shape else {
                throw ModelError("\(url.path): tensor \(spec.name) has shape \(t.shape), the model needs \(spec.shape)")
            }
            store.setValues(spec.name, t.values)
        }
    }
}
