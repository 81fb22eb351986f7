// MobileNetV1 backbone built layer for layer as Keras' `keras.applications.MobileNet` builds it.
// Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications", 2017.
import Compute

/// Architecture of the backbone: width multiplier alpha, square input size and output stride.
///
/// Keras layer names are kept in our dotted names so ImageNet weights map one to one:
/// `conv1` (3x3/2 full convolution) -> `conv1_bn` -> `conv1_relu` (ReLU6), then for block i = 1...13:
/// `conv_dw_i` (3x3 depthwise, stride s_i) -> `conv_dw_i_bn` -> `conv_dw_i_relu`,
/// `conv_pw_i` (1x1) -> `conv_pw_i_bn` -> `conv_pw_i_relu`.
/// Stride-2 layers pad with `ZeroPadding2D(((0,1),(0,1)))` (`conv1_pad`, `conv_pad_i`) then a valid
/// convolution; stride-1 layers use "same" padding. No convolution has a bias; BN epsilon is 1e-3.
///
/// With `outputStride` 16 the backbone ends after block 11 (the last stride-16 block, 512 alpha
/// channels), as localisation heads want: blocks 12 and 13 (stride 32) are not built. A `neck` of
/// N channels adds one depthwise-separable block of our own after the last built block
/// (`neck_dw`: 3x3/1 depthwise, `neck_pw`: 1x1 to N, each with BN and ReLU6), trained from scratch.
public struct MobileNetV1Config: Sendable, Codable, Equatable {
    public var alpha: Double
    public var inputSize: Int
    /// Input pixels per output cell: 32 (all 13 blocks) or 16 (blocks 1...11).
    public var outputStride: Int
    /// Output channels of the extra block after the MobileNet blocks; 0 = none.
    public var neck: Int

    public static let alphas: [Double] = [0.25, 0.5, 0.75, 1.0]

    public init(alpha: Double = 1.0, inputSize: Int = 224, outputStride: Int = 32, neck: Int = 0) {
        self.alpha = alpha
        self.inputSize = inputSize
        self.outputStride = outputStride
        self.neck = neck
    }

    private enum CodingKeys: String, CodingKey { case alpha, inputSize, outputStride, neck }

    /// Reads manifests and checkpoints written before `outputStride` and `neck` existed as stride
    /// 32 without a neck.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        alpha = try c.decode(Double.self, forKey: .alpha)
        inputSize = try c.decode(Int.self, forKey: .inputSize)
        outputStride = try c.decodeIfPresent(Int.self, forKey: .outputStride) ?? 32
        neck = try c.decodeIfPresent(Int.self, forKey: .neck) ?? 0
    }

    /// True for the tensors of the neck, which no pretrained MobileNet has.
    public static func isNeck(_ tensorName: String) -> Bool { tensorName.hasPrefix("backbone.neck_") }

    /// Checks alpha and input size; the message says what is allowed.
    public func validate() throws {
        guard Self.alphas.contains(alpha) else {
            throw ModelError("alpha \(alpha) is not supported; use one of 0.25, 0.5, 0.75, 1.0")
        }
        guard inputSize % 32 == 0, (96...224).contains(inputSize) else {
            throw ModelError("input size \(inputSize) is not supported; use a multiple of 32 from 96 to 224")
        }
        guard outputStride == 16 || outputStride == 32 else {
            throw ModelError("feature stride \(outputStride) is not supported; use 16 or 32")
        }
        guard (0...1024).contains(neck) else { throw ModelError("--neck must be 0 (none) to 1024 channels, got \(neck)") }
    }

    /// The paper's Table 1 after the first convolution: (pointwise output channels, depthwise stride).
    public static let blocks: [(channels: Int, stride: Int)] = [
        (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
    ]

    /// Channels after width scaling, as Keras computes them: `int(filters * alpha)`.
    public func width(_ filters: Int) -> Int { Int(Double(filters) * alpha) }

    /// The blocks this backbone builds: all 13, or the first 11 at output stride 16.
    public var builtBlocks: ArraySlice<(channels: Int, stride: Int)> {
        Self.blocks.prefix(outputStride == 16 ? 11 : 13)
    }

    /// Channels of the backbone output (the neck's, when there is one).
    public var outputChannels: Int { neck > 0 ? neck : width(builtBlocks.last!.channels) }
    /// Spatial size of the backbone output (input / outputStride).
    public var outputSize: Int { inputSize / outputStride }
}

/// One convolution + BN + ReLU6 unit as named in Keras (`conv1`, `conv_dw_3`, `conv_pw_3`).
public struct ConvUnit: Sendable {
    public let name: String
    public let geometry: ConvolutionGeometry
}

extension MobileNetV1Config {
    /// The convolution units in order: 27 at stride 32, 23 at stride 16, then the neck's 2.
    public var units: [ConvUnit] {
        var units: [ConvUnit] = []
        var channels = width(32)
        units.append(ConvUnit(name: "conv1", geometry: ConvolutionGeometry(
            inChannels: 3, outChannels: channels, kernel: 3, stride: 2, padding: .keras(kernel: 3, stride: 2))))
        for (i, block) in builtBlocks.enumerated() {
            let id = i + 1
            units.append(ConvUnit(name: "conv_dw_\(id)", geometry: ConvolutionGeometry(
                inChannels: channels, outChannels: channels, kernel: 3, stride: block.stride,
                padding: .keras(kernel: 3, stride: block.stride), groups: channels)))
            let out = width(block.channels)
            units.append(ConvUnit(name: "conv_pw_\(id)", geometry: ConvolutionGeometry(
                inChannels: channels, outChannels: out, kernel: 1, stride: 1, padding: .symmetric(0))))
            channels = out
        }
        if neck > 0 {
            units.append(ConvUnit(name: "neck_dw", geometry: ConvolutionGeometry(
                inChannels: channels, outChannels: channels, kernel: 3, stride: 1, padding: .keras(kernel: 3, stride: 1), groups: channels)))
            units.append(ConvUnit(name: "neck_pw", geometry: ConvolutionGeometry(
                inChannels: channels, outChannels: neck, kernel: 1, stride: 1, padding: .symmetric(0))))
        }
        return units
    }

    /// Declares the backbone's tensors: `backbone.<unit>.weight`, `backbone.<unit>_bn.{gamma,beta,
    /// running_mean,running_var}`.
    public func declare(in layout: inout ParameterLayout) {
        for u in units {
            layout.addParameter("backbone.\(u.name).weight", u.geometry.weightShape, .convolutionWeight)
            let c = u.geometry.outChannels
            layout.addParameter("backbone.\(u.name)_bn.gamma", [c], .normScale)
            layout.addParameter("backbone.\(u.name)_bn.beta", [c], .normShift)
            layout.addStatistic("backbone.\(u.name)_bn.running_mean", [c], .runningMean)
            layout.addStatistic("backbone.\(u.name)_bn.running_var", [c], .runningVariance)
        }
    }
}

/// A named layer in the network, for profiles and summaries.
public struct NamedLayer {
    public let name: String
    public let layer: any Layer
}

/// The backbone's layers: input [N, 3, S, S] plain NCHW in [-1, 1]; output [N, C, S/stride, S/stride] in ``Layout/blocked`` (nChw16c or nChw8c).
public final class MobileNetV1 {
    public let config: MobileNetV1Config
    public let layers: [NamedLayer]

    /// - Parameter fusedNormalization: each BN and its ReLU6 as one ``BatchNormReLU6`` layer named
    ///   `<unit>_bn` (our kernels, fewer passes over memory); false: oneDNN's batch norm `<unit>_bn`
    ///   then its eltwise ReLU6 `<unit>_relu`, the same maths (kept for comparison and benchmarks).
    /// - Parameter precision: what the convolutions multiply in (``ComputePrecision``); in bf16 with
    ///   fused normalization, the activations and gradients between them are bf16 tensors too.
    public init(_ config: MobileNetV1Config, store: ParameterStore, engine: Engine = .cpu, fusedNormalization: Bool = true,
                precision: ComputePrecision = .f32) throws {
        self.config = config
        var layers: [NamedLayer] = []
        for (i, u) in config.units.enumerated() {
            // The first convolution (3 plain-layout input channels, 1% of the step) stays f32: oneDNN
            // 2.6 has no bf16 kernel for its backward weights and would run its reference one.
            let conv = Convolution2D(u.geometry, weights: store.slice("backbone.\(u.name).weight"),
                                     precision: i == 0 ? .f32 : precision, engine: engine)
            let bn = "backbone.\(u.name)_bn"
            let (c, gamma, beta) = (u.geometry.outChannels, store.slice("\(bn).gamma"), store.slice("\(bn).beta"))
            let (mean, variance) = (store.statistic("\(bn).running_mean"), store.statistic("\(bn).running_var"))
            layers.append(NamedLayer(name: u.name, layer: conv))
            if fusedNormalization {
                let fused = BatchNormReLU6(channels: c, epsilon: 1e-3, gamma: gamma, beta: beta,
                                           runningMean: mean, runningVariance: variance, engine: engine)
                // In bf16, activations and their gradients between bf16 convolutions are bf16
                // tensors: each convolution's output (this layer's x), this layer's y (the next
                // one's input) and dx (this one's output gradient): no reorders, half the bytes.
                // The backbone's output (the head's input) and the first convolution's stay f32.
                if precision == .bf16 && i > 0 {
                    conv.outputElement = .bf16
                    fused.inputGradientElement = .bf16
                }
                if precision == .bf16 && i + 1 < config.units.count { fused.outputElement = .bf16 }
                layers.append(NamedLayer(name: "\(u.name)_bn", layer: fused))
            } else {
                let norm = try BatchNorm(channels: c, epsilon: 1e-3, gamma: gamma, beta: beta,
                                         runningMean: mean, runningVariance: variance, engine: engine)
                layers.append(NamedLayer(name: "\(u.name)_bn", layer: norm))
                layers.append(NamedLayer(name: "\(u.name)_relu", layer: Activation(.relu6, engine: engine)))
            }
        }
        layers[0].layer.computesInputGradient = false
        self.layers = layers
    }
}
