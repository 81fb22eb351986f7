// Keras MobileNet weights (`keras.applications.MobileNet`, .h5) mapped onto our MobileNetV1 backbone:
// kernels transposed to our layout, BN variables renamed, every shape checked. Where each layer's
// variables sit in the file (legacy and Keras 3 layouts) is KerasLayers' job.
import Compute
import Model
import ModelFiles

/// A MobileNet backbone imported from a Keras weights file, in our names and layouts.
public struct KerasMobileNetImport: Sendable {
    /// The file it came from.
    public let source: String
    /// The width multiplier found in the file (conv1's filters / 32).
    public let alpha: Double
    /// Backbone tensors under our dotted names (`backbone.conv_dw_3.weight`, ...): convolution
    /// weights [O, I/groups, KH, KW], BN gamma/beta/running_mean/running_var [C].
    public let tensors: [NamedTensor]
    /// Layers in the file that are not part of the backbone (the ImageNet classifier `conv_preds`
    /// of the with-top files, for example), sorted.
    public let ignoredLayers: [String]

    /// Reads `path` and maps every backbone layer. `alpha`, when given, must match the file's.
    /// Errors name the file and the Keras layer (missing layer, wrong shape, wrong alpha).
    public static func read(path: String, alpha expectedAlpha: Double? = nil) throws -> KerasMobileNetImport {
        let arrays = try HDF5File(path: path).floatArrays(skipping: KerasLayers.optimizerGroups)
        var layers = KerasLayers(arrays)
        layers.nameKeras3Layers(MobileNetV1Config().units)
        guard let conv1 = layers.variables["conv1"], let kernel = conv1["kernel"] ?? conv1["#0"] else {
            let found = (layers.names.isEmpty ? arrays.map(\.path) : layers.names).prefix(8).joined(separator: ", ")
            throw InteropError("\(path) has no layer conv1, so it is not a keras.applications.MobileNet weights file "
                               + "(\(layers.names.isEmpty ? "datasets" : "layers") found: \(found.isEmpty ? "none" : found))")
        }
        guard kernel.shape.count == 4, kernel.shape[0] == 3, kernel.shape[1] == 3, kernel.shape[2] == 3 else {
            throw InteropError("\(path): layer conv1 kernel has shape \(kernel.shape); a MobileNet's is [3, 3, 3, 32 * alpha]")
        }
        let alpha = Double(kernel.shape[3]) / 32
        guard MobileNetV1Config.alphas.contains(alpha) else {
            throw InteropError("\(path): conv1 has \(kernel.shape[3]) filters, alpha \(alpha); supported alphas are 0.25, 0.5, 0.75 and 1.0")
        }
        if let expectedAlpha, expectedAlpha != alpha {
            throw InteropError("\(path) holds a MobileNet with alpha \(alpha) (conv1 has \(kernel.shape[3]) filters), "
                               + "not \(expectedAlpha); pass --alpha \(alpha) or use the file for alpha \(expectedAlpha)")
        }
        let config = MobileNetV1Config(alpha: alpha)
        var tensors: [NamedTensor] = []
        var used: Set<String> = []
        for unit in config.units {
            tensors.append(try convolution(unit, layers, alpha: alpha, path: path))
            tensors += try batchNorm(unit, layers, path: path)
            used.formUnion([unit.name, "\(unit.name)_bn"])
        }
        return KerasMobileNetImport(source: path, alpha: alpha, tensors: tensors,
                                    ignoredLayers: layers.names.filter { !used.contains($0) })
    }

    /// Keras kernel [KH, KW, I, O] (depthwise: [KH, KW, C, 1]) -> ours [O, I/groups, KH, KW].
    private static func convolution(_ unit: ConvUnit, _ layers: KerasLayers, alpha: Double, path: String) throws -> NamedTensor {
        let g = unit.geometry
        let depthwise = g.groups > 1
        let name = unit.name
        let weights = try layers.layer(name, path: path)
        if weights["bias"] != nil || weights["#1"] != nil {
            throw InteropError("\(path): layer \(name) has a bias; keras.applications.MobileNet convolutions have none")
        }
        guard let kernel = weights[depthwise ? "depthwise_kernel" : "kernel"] ?? weights["kernel"] ?? weights["#0"] else {
            throw InteropError("\(path): layer \(name) has no kernel (variables: \(weights.keys.sorted().joined(separator: ", ")))")
        }
        let expected = [g.kernel, g.kernel, g.inChannels, depthwise ? 1 : g.outChannels]
        guard kernel.shape == expected else {
            throw InteropError("\(path): layer \(name) kernel has shape \(kernel.shape); a MobileNet with alpha "
                               + "\(alpha) (from conv1) needs \(expected) (Keras order [KH, KW, in, out])")
        }
        try requireFinite(kernel, layer: name, path: path)
        let k = g.kernel, inPerGroup = depthwise ? 1 : g.inChannels, out = g.outChannels
        var ours = [Float](repeating: 0, count: out * inPerGroup * k * k)
        for o in 0..<out {
            for i in 0..<inPerGroup {
                for y in 0..<k {
                    for x in 0..<k {
                        // Keras index [y][x][c][m]: depthwise has c = o and m = 0; full has c = i and m = o.
                        let keras = depthwise ? ((y * k + x) * out + o) : (((y * k + x) * g.inChannels + i) * out + o)
                        ours[((o * inPerGroup + i) * k + y) * k + x] = kernel.values[keras]
                    }
                }
            }
        }
        return NamedTensor(name: "backbone.\(name).weight", shape: g.weightShape, values: ours)
    }

    /// Keras BatchNormalization gamma, beta, moving_mean, moving_variance -> ours, all [C].
    private static func batchNorm(_ unit: ConvUnit, _ layers: KerasLayers, path: String) throws -> [NamedTensor] {
        let name = "\(unit.name)_bn"
        let weights = try layers.layer(name, path: path)
        let channels = unit.geometry.outChannels
        let parts = [("gamma", "gamma"), ("beta", "beta"), ("moving_mean", "running_mean"), ("moving_variance", "running_var")]
        return try parts.enumerated().map { index, part in
            guard let array = weights[part.0] ?? weights["#\(index)"] else {
                throw InteropError("\(path): layer \(name) has no \(part.0) (variables: \(weights.keys.sorted().joined(separator: ", ")))")
            }
            guard array.shape == [channels] else {
                throw InteropError("\(path): layer \(name) \(part.0) has shape \(array.shape), MobileNet needs [\(channels)]")
            }
            try requireFinite(array, layer: name, path: path)
            if part.0 == "moving_variance", let bad = array.values.first(where: { $0 < 0 }) {
                throw InteropError("\(path): layer \(name) moving_variance holds \(bad) < 0; the file is damaged")
            }
            return NamedTensor(name: "backbone.\(name).\(part.1)", shape: [channels], values: array.values)
        }
    }

    private static func requireFinite(_ array: StoredArray, layer: String, path: String) throws {
        if let bad = array.values.firstIndex(where: { !$0.isFinite }) {
            throw InteropError("\(path): layer \(layer) (\(array.path)) holds \(array.values[bad]) at index \(bad); the file is damaged")
        }
    }
}
