// Saved models: a folder with `model.safetensors` (weights and BN statistics under their dotted
// names) and `model.json` (architecture, input size, K, keypoint names, normalisation).
import Foundation
import Model

/// The manifest written beside the weights. Everything needed to rebuild the network and to use
/// its outputs correctly.
public struct ModelManifest: Codable, Sendable, Equatable {
    public var format = "keypoints-model"
    public var version = 1
    public var architecture = "mobilenet_v1"
    public var model: ModelConfig
    /// How pixels become network inputs.
    public var inputNormalization = "\(InputNormalization.formula) (RGB, [-1, 1]), NCHW [N, 3, S, S]"
    /// What the outputs mean.
    public var outputs = "[N, 2K] = (x1, y1, ..., xK, yK) in [0, 1] of the network input frame; pixels = value * S"
    /// Tensor layouts in the safetensors file.
    public var layouts = "conv weights [O, I/groups, KH, KW]; dense weights [out, in]; BN gamma/beta/running_mean/running_var [C]"
    /// Free-form facts about how the model was trained (steps, loss, metrics) or, for an imported
    /// backbone, where it came from.
    public var training: [String: String] = [:]
    /// nil for a whole model; "backbone" for a folder holding only `backbone.*` tensors (weights
    /// imported from Keras), usable with `train --init-from` only. Then only `model.backbone` is
    /// meaningful: the head settings and keypoints are the defaults, as placeholders.
    public var contents: String?

    public init(model: ModelConfig, training: [String: String] = [:], contents: String? = nil) {
        self.model = model
        self.training = training
        self.contents = contents
    }

    /// The `contents` value of a backbone-only folder.
    public static let backboneOnly = "backbone"

}

public enum SavedModel {
    public static let weightsFile = "model.safetensors"
    public static let manifestFile = "model.json"

    /// Writes `network`'s parameters and statistics to `directory` as a unit: both files go into a
    /// temporary folder, are fsynced, and the folder replaces `directory` in one atomic exchange, so
    /// a crash or a full disk leaves the previous model whole (weights and manifest never disagree).
    public static func save(_ network: KeypointNetwork, to directory: URL, training: [String: String] = [:]) throws {
        let store = network.store
        let tensors = (store.layout.parameters + store.layout.statistics).map {
            NamedTensor(name: $0.name, shape: $0.shape, values: store.values($0.name)!)
        }
        let weights = try SafeTensors.encode(tensors, metadata: ["format": "keypoints-model", "architecture": "mobilenet_v1"])
        try write(weights: weights, manifest: ModelManifest(model: network.config, training: training), to: directory)
    }

    /// The two files of a saved model, written as a unit (see `save`).
    private static func write(weights: Data, manifest: ModelManifest, to directory: URL) throws {
        let manifestBytes = try encodedManifest(manifest)
        do {
            try DurableFile.replaceFolder(directory) { folder in
                try DurableFile.writeAndSync(weights, to: folder.appendingPathComponent(weightsFile))
                try DurableFile.writeAndSync(manifestBytes, to: folder.appendingPathComponent(manifestFile))
            }
        } catch let e as DurableWriteError {
            throw ModelError("cannot save the model to \(directory.path): \(e)" + (e.isFull ? "; free some space" : ""))
        }
    }

    private static func encodedManifest(_ manifest: ModelManifest) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(manifest)
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
        do { try manifest.model.validate() } catch {
            throw ModelError("\(url.path) describes a model this build cannot make: \(error); re-save the model")
        }
        return manifest
    }

    /// Rebuilds the network a folder describes and loads its weights.
    public static func load(from directory: URL) throws -> KeypointNetwork {
        let manifest = try manifest(at: directory)
        guard manifest.contents == nil else {
            throw ModelError("\(directory.path) holds only a MobileNet backbone (\(manifest.training["source"] ?? "imported")), "
                             + "not a keypoint model: train one with `keypoints train --init-from \(directory.path)`")
        }
        let network = try KeypointNetwork(manifest.model)
        try loadWeights(into: network, from: directory.appendingPathComponent(weightsFile))
        return network
    }

    /// Writes a backbone-only folder: `tensors` (all `backbone.*` weights and BN statistics of
    /// `backbone`, checked against its layout) and a manifest with `contents` "backbone".
    public static func saveBackbone(_ tensors: [NamedTensor], config backbone: MobileNetV1Config,
                                    to directory: URL, provenance: [String: String]) throws {
        var layout = ParameterLayout()
        backbone.declare(in: &layout)
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for spec in layout.parameters + layout.statistics {
            guard let t = byName[spec.name], t.shape == spec.shape else {
                throw ModelError("backbone tensor \(spec.name) \(byName[spec.name].map { "has shape \($0.shape)" } ?? "is missing"); "
                                 + "MobileNetV1 alpha \(backbone.alpha) needs \(spec.shape)")
            }
        }
        let weights = try SafeTensors.encode(tensors, metadata: ["format": "keypoints-model", "architecture": "mobilenet_v1",
                                                                 "contents": ModelManifest.backboneOnly])
        let manifest = ModelManifest(model: ModelConfig(backbone: backbone), training: provenance,
                                     contents: ModelManifest.backboneOnly)
        try write(weights: weights, manifest: manifest, to: directory)
    }

    /// Copies the backbone (weights and BN statistics) of the saved model or backbone folder at
    /// `directory` into `network`; the head is left as it is. The widths must match.
    @discardableResult
    public static func loadBackbone(into network: KeypointNetwork, from directory: URL) throws -> ModelManifest {
        let manifest = try manifest(at: directory)
        guard manifest.model.backbone.alpha == network.config.backbone.alpha else {
            throw ModelError("\(directory.path) holds a MobileNet with alpha \(manifest.model.backbone.alpha), this model has alpha "
                             + "\(network.config.backbone.alpha): pass --alpha \(manifest.model.backbone.alpha) or import the matching weights")
        }
        // A pretrained MobileNet has no neck: it starts from the initialiser's values unless the folder has one.
        let sameNeck = manifest.model.backbone.neck == network.config.backbone.neck && network.config.backbone.neck > 0
        let skipped: ((String) -> Bool)? = sameNeck ? nil : { MobileNetV1Config.isNeck($0) }
        try loadWeights(into: network, from: directory.appendingPathComponent(weightsFile), only: "backbone.", skipping: skipped)
        return manifest
    }

    /// Loads every tensor the network declares (or, with `prefix`, those whose names start with it,
    /// except those `skipping` picks) from a safetensors file, checking names and shapes.
    public static func loadWeights(into network: KeypointNetwork, from url: URL, only prefix: String = "",
                                   skipping: ((String) -> Bool)? = nil) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelError("\(url.path) not found or unreadable")
        }
        let (tensors, _) = try SafeTensors.decode(data, source: url.path)
        let store = network.store
        for spec in store.layout.parameters + store.layout.statistics
        where spec.name.hasPrefix(prefix) && !(skipping?(spec.name) ?? false) {
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
