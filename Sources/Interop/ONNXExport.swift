// A trained KeypointNetwork as a standard ONNX inference graph (opset 13): input normalisation,
// the backbone's convolutions with BatchNorm folded in, ReLU6 as Clip, then the head (ONNXHeads.swift).
import Model
import Foundation

/// The exported graph's conventions, which the file's metadata repeats for its users:
///
/// - input `image`: float32 NCHW [N, 3, S, S], N symbolic (any batch size), RGB pixel values in
///   [0, 255] of the original image already fitted to S x S as the model was trained (letterbox or
///   stretch, see ``frameDescription(resize:)``). The graph's first nodes apply the network's
///   normalisation x / 127.5 - 1 itself, so callers feed plain pixels.
/// - output `keypoints`: float32 [N, 2K] = (x1, y1, ..., xK, yK) normalised to [0, 1] of the S x S
///   input frame: pixels in that frame = value * S.
///
/// Inference only: BatchNorm uses the running statistics and is folded into the preceding
/// convolution, W' = W * g and b' = beta - mean * g per output channel, g = gamma / sqrt(var + 1e-3);
/// dropout is the identity.
public enum ONNXExport {
    /// ONNX operator set version (Conv, Clip with min/max inputs, Gemm, GlobalAveragePool, Flatten,
    /// MatMul, Reshape, Softmax on one axis, Add).
    public static let opset = 13
    /// ONNX IR version of the file.
    public static let irVersion = 8
    public static let inputName = "image"
    public static let outputName = "keypoints"
    /// The symbolic batch dimension's name.
    public static let batchDimension = "N"

    /// The serialized `.onnx` model for `network`. `resize` is how images were fitted to the input
    /// ("letterbox" or "stretch"); `training` (the saved manifest's facts) goes into the metadata as
    /// `training.<key>` entries.
    public static func serialized(_ network: KeypointNetwork, resize: String, producerVersion: String,
                                  training: [String: String] = [:]) throws -> [UInt8] {
        let graph = try self.graph(network)
        let model = ONNXModel(irVersion: irVersion, opsetVersion: opset, producerName: "keypoints",
                              producerVersion: producerVersion,
                              doc: "MobileNetV1 keypoint regressor exported by keypoints; see metadata_props for input and output conventions",
                              graph: graph,
                              metadata: metadata(network.config, resize: resize, training: training))
        return model.serialized()
    }

    /// The metadata_props entries: everything a user needs to prepare inputs and read outputs.
    static func metadata(_ config: ModelConfig, resize: String, training: [String: String]) -> [(key: String, value: String)] {
        let s = config.backbone.inputSize, k = config.keypoints
        let names = (try? JSONSerialization.data(withJSONObject: config.keypointNames))
            .map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        var entries: [(key: String, value: String)] = [
            ("producer", "keypoints"),
            ("architecture", "mobilenet_v1"),
            ("alpha", String(config.backbone.alpha)),
            ("head", "\(config.head.kind.rawValue): " + config.head.describe(keypoints: k, backbone: config.backbone)),
            ("feature_stride", String(config.backbone.outputStride)),
            ("keypoint_count", String(k)),
            ("keypoint_names", names),
            ("input_size", String(s)),
            ("resize", resize),
            ("input", "\(inputName): float32 NCHW [N, 3, \(s), \(s)], RGB pixel values in [0, 255] of the image fitted to \(s) x \(s) (\(resize))"),
            ("input_normalization", "done inside the graph: \(InputNormalization.formula)"),
            ("output", "\(outputName): float32 [N, \(2 * k)] = (x1, y1, ..., x\(k), y\(k)) in [0, 1] of the \(s) x \(s) input frame; pixels in that frame = value * \(s)"),
            ("to_original", frameDescription(resize: resize)),
        ]
        for key in training.keys.sorted() { entries.append(("training.\(key)", training[key]!)) }
        return entries
    }

    /// How an original w x h image becomes the S x S input and how frame pixels map back, as the
    /// training pipeline does it (Data's FrameMapping and SampleRenderer). Coordinates are
    /// continuous: pixel (i, j) covers [i, i+1) x [j, j+1), sampled at its centre, bilinear.
    public static func frameDescription(resize: String) -> String {
        switch resize {
        case "stretch":
            return "stretch: x scaled by S / w, y by S / h; original x = frame x * w / S, original y = frame y * h / S"
        default:
            return "letterbox: scale = S / max(w, h), ox = (S - w * scale) / 2, oy = (S - h * scale) / 2, "
                + "the rest of the frame filled with 127.5; original x = (frame x - ox) / scale, original y = (frame y - oy) / scale"
        }
    }

    /// The inference graph. Value names follow the layers' dotted names (`backbone.conv_dw_3`, ...).
    static func graph(_ network: KeypointNetwork) throws -> ONNXGraph {
        let config = network.config
        let store = network.store
        func values(_ name: String) throws -> [Float] {
            guard let v = store.values(name) else { throw ModelError("ONNX export: the network has no tensor \(name)") }
            return v
        }
        let s = config.backbone.inputSize, k = config.keypoints
        var g = ONNXGraph(name: "keypoints_mobilenet_v1")
        g.inputs = [ONNXValueInfo(name: inputName, shape: [.parameter(batchDimension), .value(3), .value(s), .value(s)],
                                  doc: "RGB pixel values in [0, 255] of the image fitted to \(s) x \(s), NCHW")]
        g.outputs = [ONNXValueInfo(name: outputName, shape: [.parameter(batchDimension), .value(2 * k)],
                                   doc: "(x1, y1, ..., xK, yK) in [0, 1] of the \(s) x \(s) input frame")]

        // Normalisation as the renderer computes it (a division, not a multiplication by 1/127.5,
        // so the network sees bit-identical inputs).
        g.initializers += [ONNXTensor.float("pixel_scale", dims: [], [InputNormalization.scale]),
                           ONNXTensor.float("pixel_offset", dims: [], [1]),
                           ONNXTensor.float("relu6_min", dims: [], [0]),
                           ONNXTensor.float("relu6_max", dims: [], [6])]
        g.nodes.append(ONNXNode(opType: "Div", inputs: [inputName, "pixel_scale"], outputs: ["pixels_scaled"], name: "normalize_scale"))
        g.nodes.append(ONNXNode(opType: "Sub", inputs: ["pixels_scaled", "pixel_offset"], outputs: ["normalized"], name: "normalize_offset"))

        var x = "normalized"
        for unit in config.backbone.units {
            let base = "backbone.\(unit.name)", bn = "backbone.\(unit.name)_bn"
            let geometry = unit.geometry
            let (weight, bias) = try BatchNormFolding.fold(unit, in: store)
            g.initializers.append(.float("\(base).weight", dims: geometry.weightShape, weight,
                                         doc: "\(base).weight with \(bn) folded in (running statistics, epsilon 1e-3)"))
            g.initializers.append(.float("\(base).bias", dims: [geometry.outChannels], bias,
                                         doc: "\(bn).beta - running_mean * gamma / sqrt(running_var + 1e-3)"))
            let p = geometry.padding
            g.nodes.append(ONNXNode(opType: "Conv", inputs: [x, "\(base).weight", "\(base).bias"], outputs: [base], name: unit.name,
                                    attributes: [.ints("kernel_shape", [geometry.kernel, geometry.kernel]),
                                                 .ints("strides", [geometry.stride, geometry.stride]),
                                                 // ONNX pads: [top, left, bottom, right] (begins of each axis, then ends).
                                                 .ints("pads", [p.top, p.left, p.bottom, p.right]),
                                                 .ints("dilations", [1, 1]),
                                                 .int("group", geometry.groups)]))
            g.nodes.append(ONNXNode(opType: "Clip", inputs: [base, "relu6_min", "relu6_max"], outputs: ["\(base)_relu"],
                                    name: "\(unit.name)_relu"))
            x = "\(base)_relu"
        }

        try appendHead(to: &g, from: x, network)
        return g
    }
}
