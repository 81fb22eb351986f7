// The heatmap head: a 1x1 convolution to K logit maps, decoded by a spatial soft-argmax.
import Compute

/// Features [N, C, h, w] -> `maps`: 1x1 convolution to K logit maps [N, K, h, w] (no bias: the
/// softmax ignores a per-map constant) -> `soft_argmax`: optional bilinear upsampling and the
/// expected cell centre per map -> [N, 2K]. The loss goes on the coordinates; with a distribution
/// weight, also on the maps (KL to a Gaussian of `sigma` input pixels around each target).
public final class HeatmapHead: KeypointHead {
    public let layers: [NamedLayer]
    private let maps: Convolution2D
    private let decoder: SpatialSoftArgmax
    private let config: HeadConfig
    private let inputSize: Int

    /// Tensor `head.maps.weight` [K, C, 1, 1].
    static func declare(in layout: inout ParameterLayout, features: Int, keypoints: Int) {
        layout.addParameter("head.maps.weight", [keypoints, features, 1, 1], .convolutionWeight)
    }

    public init(_ config: HeadConfig, backbone: MobileNetV1Config, keypoints: Int, store: ParameterStore, engine: Engine = .cpu) {
        self.config = config
        inputSize = backbone.inputSize
        maps = Convolution2D(ConvolutionGeometry(inChannels: backbone.outputChannels, outChannels: keypoints, kernel: 1,
                                                 stride: 1, padding: .symmetric(0)),
                             weights: store.slice("head.maps.weight"), engine: engine)
        decoder = SpatialSoftArgmax(upsample: config.upsample, engine: engine)
        layers = [NamedLayer(name: "maps", layer: maps), NamedLayer(name: "soft_argmax", layer: decoder)]
    }

    public var propagatesToBackbone: Bool {
        get { maps.computesInputGradient }
        set { maps.computesInputGradient = newValue }
    }

    public func forward(_ features: Tensor, mode: Mode) throws -> Tensor { try forwardLayers(features, mode: mode) }

    public func backward(_ dPredictions: Tensor) throws -> Tensor? { try backwardLayers(dPredictions) }

    public func distributionLoss(targets: [Float], mask: [Float]) throws -> Float {
        guard config.distributionWeight > 0 else { return 0 }
        return try decoder.distributionLoss(targets: targets, mask: mask, sigma: config.sigma / Float(inputSize),
                                            weight: config.distributionWeight)
    }
}
