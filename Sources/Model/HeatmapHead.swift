// The heatmap head: a 1x1 convolution to K logit maps, decoded by a spatial soft-argmax.
import Compute

/// Features [N, C, h, w] -> `maps`: 1x1 convolution to K logit maps [N, K, h, w] (no bias: the
/// softmax ignores a per-map constant) -> `soft_argmax`: optional bilinear upsampling and the
/// expected cell centre per map -> [N, 2K]. The loss goes on the coordinates; with a distribution
/// weight, also on the maps (KL to a Gaussian of `sigma` input pixels around each target).
public final class HeatmapHead: DistributionHead {
    public let layers: [NamedLayer]
    public let maps: Convolution2D
    public let decoder: any DistributionDecoder
    public let config: HeadConfig
    public let inputSize: Int

    /// Tensor `head.maps.weight` [K, C, 1, 1].
    static func declare(in layout: inout ParameterLayout, features: Int, keypoints: Int) {
        layout.addParameter("head.maps.weight", [keypoints, features, 1, 1], .convolutionWeight)
    }

    public init(_ config: HeadConfig, backbone: MobileNetV1Config, keypoints: Int, store: ParameterStore, engine: Engine = .cpu) {
        self.config = config
        inputSize = backbone.inputSize
        maps = Self.mapsConvolution(backbone: backbone, keypoints: keypoints, store: store, engine: engine)
        let decoder = SpatialSoftArgmax(upsample: config.upsample, engine: engine)
        self.decoder = decoder
        layers = [NamedLayer(name: "maps", layer: maps), NamedLayer(name: "soft_argmax", layer: decoder)]
    }
}
