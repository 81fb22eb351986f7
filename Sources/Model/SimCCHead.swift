// The SimCC head (Li et al., "SimCC: a Simple Coordinate Classification Perspective for Human Pose
// Estimation", ECCV 2022): each keypoint's map flattened, then one dense layer to sub-pixel bins per axis.
import Compute

/// Features [N, C, h, w] -> `maps`: 1x1 convolution to K maps [N, K, h, w] -> `flatten`
/// [N*K, h*w] -> `bins`: one dense layer shared by the keypoints to S*r x-bin and S*r y-bin logits
/// (S the input size, r the split ratio) -> `soft_argmax`: the expected bin centre per axis ->
/// [N, 2K]. The loss goes on the coordinates; with a distribution weight, also on the bins (KL to
/// a Gaussian of `sigma` input pixels, SimCC's label smoothing).
public final class SimCCHead: DistributionHead {
    public let layers: [NamedLayer]
    public let maps: Convolution2D
    public let decoder: any DistributionDecoder
    public let config: HeadConfig
    public let inputSize: Int

    /// Tensors `head.maps.weight` [K, C, 1, 1], `head.bins.weight` [2 S r, h w] and `head.bins.bias` [2 S r].
    static func declare(_ config: HeadConfig, in layout: inout ParameterLayout, backbone: MobileNetV1Config, keypoints: Int) {
        let cells = backbone.outputSize * backbone.outputSize, bins = 2 * backbone.inputSize * config.splitRatio
        layout.addParameter("head.maps.weight", [keypoints, backbone.outputChannels, 1, 1], .convolutionWeight)
        layout.addParameter("head.bins.weight", [bins, cells], .linearWeight)
        layout.addParameter("head.bins.bias", [bins], .bias)
    }

    public init(_ config: HeadConfig, backbone: MobileNetV1Config, keypoints: Int, store: ParameterStore, engine: Engine = .cpu) throws {
        self.config = config
        inputSize = backbone.inputSize
        let cells = backbone.outputSize * backbone.outputSize, axisBins = backbone.inputSize * config.splitRatio
        maps = Self.mapsConvolution(backbone: backbone, keypoints: keypoints, store: store, engine: engine)
        let bins = try Linear(inFeatures: cells, outFeatures: 2 * axisBins, weights: store.slice("head.bins.weight"),
                              bias: store.slice("head.bins.bias"), engine: engine)
        let decoder = AxisSoftArgmax(keypoints: keypoints, xBins: axisBins, yBins: axisBins, engine: engine)
        self.decoder = decoder
        layers = [NamedLayer(name: "maps", layer: maps), NamedLayer(name: "flatten", layer: MapFlatten(engine: engine)),
                  NamedLayer(name: "bins", layer: bins), NamedLayer(name: "soft_argmax", layer: decoder)]
    }
}
