// The SimCC head (Li et al., "SimCC: a Simple Coordinate Classification Perspective for Human Pose
// Estimation", ECCV 2022): each keypoint's map flattened, then one dense layer to sub-pixel bins per axis.
import Compute

/// Features [N, C, h, w] -> `maps`: 1x1 convolution to K maps [N, K, h, w] -> `flatten`
/// [N*K, h*w] -> `bins`: one dense layer shared by the keypoints to S*r x-bin and S*r y-bin logits
/// (S the input size, r the split ratio) -> `soft_argmax`: the expected bin centre per axis ->
/// [N, 2K]. The loss goes on the coordinates; with a distribution weight, also on the bins (KL to
/// a Gaussian of `sigma` input pixels, SimCC's label smoothing).
public final class SimCCHead: KeypointHead {
    public let layers: [NamedLayer]
    private let maps: Convolution2D
    private let decoder: AxisSoftArgmax
    private let config: HeadConfig
    private let inputSize: Int

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
        maps = Convolution2D(ConvolutionGeometry(inChannels: backbone.outputChannels, outChannels: keypoints, kernel: 1,
                                                 stride: 1, padding: .symmetric(0)),
                             weights: store.slice("head.maps.weight"), engine: engine)
        let bins = try Linear(inFeatures: cells, outFeatures: 2 * axisBins, weights: store.slice("head.bins.weight"),
                              bias: store.slice("head.bins.bias"), engine: engine)
        decoder = AxisSoftArgmax(keypoints: keypoints, xBins: axisBins, yBins: axisBins, engine: engine)
        layers = [NamedLayer(name: "maps", layer: maps), NamedLayer(name: "flatten", layer: MapFlatten(engine: engine)),
                  NamedLayer(name: "bins", layer: bins), NamedLayer(name: "soft_argmax", layer: decoder)]
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
