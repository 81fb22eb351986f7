// Keypoint heads: the pluggable interface, the head kinds and their settings.
import Compute

/// What a head must do: turn backbone features [N, C, h, w] (``Layout/blocked``) into predictions [N, 2K]
/// of normalised coordinates (x1, y1, ..., xK, yK) in [0, 1] of the network input frame.
public protocol KeypointHead: AnyObject {
    /// The head's layers in order, for profiles and summaries.
    var layers: [NamedLayer] { get }
    /// Predictions [N, 2K], plain.
    func forward(_ features: Tensor, mode: Mode) throws -> Tensor
    /// Writes the head's parameter gradients; returns dFeatures when `propagatesToBackbone`.
    func backward(_ dPredictions: Tensor) throws -> Tensor?
    /// False while the backbone is frozen: backward stops at the head.
    var propagatesToBackbone: Bool { get set }
    /// The head's own loss on the distributions of its last forward (heatmaps, SimCC bins): for each
    /// labelled keypoint, weight x KL(Gaussian target || predicted distribution). Its gradient is
    /// added in the next backward. `targets` [N, 2K] are normalised input-frame coordinates, `mask`
    /// [N, K] the visibility weights. Returns the sum over keypoints (normaliser 1, as the
    /// coordinate loss in a micro-batch); 0 for heads without distributions.
    func distributionLoss(targets: [Float], mask: [Float]) throws -> Float
}

extension KeypointHead {
    public func distributionLoss(targets: [Float], mask: [Float]) throws -> Float { 0 }

    /// Runs `layers` in order.
    func forwardLayers(_ features: Tensor, mode: Mode) throws -> Tensor {
        var x = features
        for l in layers { x = try l.layer.forward(x, mode: mode) }
        return x
    }

    /// Runs `layers` backward, stopping where a layer returns no input gradient.
    func backwardLayers(_ dPredictions: Tensor) throws -> Tensor? {
        var d: Tensor? = dPredictions
        for l in layers.reversed() {
            guard let g = d else { return nil }
            d = try l.layer.backward(g)
        }
        return d
    }
}

/// A soft-argmax decoder whose distributions can take a KL loss to Gaussian targets.
public protocol DistributionDecoder: Layer {
    /// Adds `weight` x the KL divergence from Gaussian targets of deviation `sigma` (normalised
    /// units) to the last forward's distributions, for each keypoint with mask > 0; its gradient
    /// joins the next backward. Returns the sum over keypoints.
    func distributionLoss(targets: [Float], mask: [Float], sigma: Float, weight: Float) throws -> Float
}

/// A head that starts with a 1x1 convolution to K maps and ends in a distribution decoder
/// (heatmap, SimCC): it stops at the maps while the backbone is frozen.
public protocol DistributionHead: KeypointHead {
    var maps: Convolution2D { get }
    var decoder: any DistributionDecoder { get }
    var config: HeadConfig { get }
    /// Network input side in pixels (sigma is given in input pixels).
    var inputSize: Int { get }
}

extension DistributionHead {
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

    /// The 1x1 convolution from the backbone's channels to K maps, over `head.maps.weight`.
    public static func mapsConvolution(backbone: MobileNetV1Config, keypoints: Int, store: ParameterStore, engine: Engine) -> Convolution2D {
        Convolution2D(ConvolutionGeometry(inChannels: backbone.outputChannels, outChannels: keypoints, kernel: 1,
                                          stride: 1, padding: .symmetric(0)),
                      weights: store.slice("head.maps.weight"), engine: engine)
    }
}

/// Which head turns features into coordinates.
public enum HeadKind: String, Sendable, Codable, CaseIterable {
    /// Global average pooling and two dense layers (the Keras recipe).
    case regression
    /// K heatmaps decoded by a spatial soft-argmax (integral regression, DSNT-style).
    case heatmap
    /// SimCC: one distribution over sub-pixel bins per axis per keypoint, decoded by its expectation.
    case simcc
}

/// Settings of the head. Fields a kind does not use are kept at their defaults and ignored.
public struct HeadConfig: Sendable, Codable, Equatable {
    public var kind: HeadKind
    /// regression: units of the hidden Dense layer.
    public var hidden: Int
    /// regression: dropout rate between the hidden and the output layer.
    public var dropout: Float
    /// heatmap: maps are bilinearly upsampled by this factor (1 or 2) before the softmax, so at
    /// feature stride 16 a factor 2 gives stride-8 maps.
    public var upsample: Int
    /// simcc: bins per input pixel on each axis (the split ratio, 1...4).
    public var splitRatio: Int
    /// heatmap, simcc: standard deviation of the Gaussian target distribution, input pixels.
    public var sigma: Float
    /// heatmap, simcc: weight of the distribution loss beside the coordinate loss (0 = coordinates only).
    public var distributionWeight: Float

    public init(kind: HeadKind = .regression, hidden: Int = 1024, dropout: Float = 0, upsample: Int = 2,
                splitRatio: Int = 2, sigma: Float = 2, distributionWeight: Float = 0) {
        self.kind = kind
        self.hidden = hidden
        self.dropout = dropout
        self.upsample = upsample
        self.splitRatio = splitRatio
        self.sigma = sigma
        self.distributionWeight = distributionWeight
    }

    private enum CodingKeys: String, CodingKey { case kind, hidden, dropout, upsample, splitRatio, sigma, distributionWeight }

    /// Reads manifests written before heads had kinds (`{hidden, dropout}`) as regression heads.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = HeadConfig()
        kind = try c.decodeIfPresent(HeadKind.self, forKey: .kind) ?? .regression
        hidden = try c.decodeIfPresent(Int.self, forKey: .hidden) ?? d.hidden
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? d.dropout
        upsample = try c.decodeIfPresent(Int.self, forKey: .upsample) ?? d.upsample
        splitRatio = try c.decodeIfPresent(Int.self, forKey: .splitRatio) ?? d.splitRatio
        sigma = try c.decodeIfPresent(Float.self, forKey: .sigma) ?? d.sigma
        distributionWeight = try c.decodeIfPresent(Float.self, forKey: .distributionWeight) ?? d.distributionWeight
    }

    /// Checks the fields the kind uses; the message names the flag.
    public func validate() throws {
        switch kind {
        case .regression:
            guard (1...65_536).contains(hidden) else { throw ModelError("head hidden units must be 1...65536, got \(hidden)") }
            guard dropout >= 0 && dropout < 1 else { throw ModelError("dropout must be in [0, 1), got \(dropout)") }
        case .heatmap, .simcc:
            if kind == .heatmap, !(1...2).contains(upsample) {
                throw ModelError("--heatmap-upsample must be 1 or 2, got \(upsample)")
            }
            if kind == .simcc, !(1...4).contains(splitRatio) {
                throw ModelError("--simcc-split must be 1...4 bins per pixel, got \(splitRatio)")
            }
            guard sigma > 0 && sigma.isFinite else { throw ModelError("--head-sigma must be a positive number of pixels, got \(sigma)") }
            guard distributionWeight >= 0 && distributionWeight.isFinite else {
                throw ModelError("--distribution-weight must be zero or positive, got \(distributionWeight)")
            }
        }
    }

    /// One line on the head, for summaries and export metadata.
    public func describe(keypoints k: Int, backbone: MobileNetV1Config) -> String {
        let side = backbone.outputSize
        switch kind {
        case .regression:
            return "GAP -> Dense(\(hidden), ReLU) -> Dropout(\(dropout)) -> Dense(\(2 * k))"
        case .heatmap:
            let maps = side * upsample
            return "1x1 conv to \(k) maps \(side)x\(side)" + (upsample > 1 ? " -> bilinear x\(upsample) to \(maps)x\(maps)" : "")
                + " -> spatial soft-argmax" + lossNote
        case .simcc:
            let bins = backbone.inputSize * splitRatio
            return "1x1 conv to \(k) maps \(side)x\(side) -> Dense(\(bins) x-bins + \(bins) y-bins) per keypoint -> soft-argmax"
                + lossNote
        }
    }

    private var lossNote: String {
        distributionWeight > 0 ? String(format: ", KL to Gaussian sigma %g px x %g", sigma, distributionWeight) : ""
    }

    /// Declares the head's tensors after the backbone's (`head.*`).
    func declare(in layout: inout ParameterLayout, backbone: MobileNetV1Config, keypoints: Int) {
        let features = backbone.outputChannels
        switch kind {
        case .regression:
            RegressionHead.declare(self, in: &layout, features: features, keypoints: keypoints)
        case .heatmap:
            HeatmapHead.declare(in: &layout, features: features, keypoints: keypoints)
        case .simcc:
            SimCCHead.declare(self, in: &layout, backbone: backbone, keypoints: keypoints)
        }
    }

    /// Builds the head over `store`'s tensors.
    func make(backbone: MobileNetV1Config, keypoints: Int, store: ParameterStore, engine: Engine) throws -> any KeypointHead {
        switch kind {
        case .regression:
            return try RegressionHead(self, features: backbone.outputChannels, keypoints: keypoints, store: store, engine: engine)
        case .heatmap:
            return HeatmapHead(self, backbone: backbone, keypoints: keypoints, store: store, engine: engine)
        case .simcc:
            return try SimCCHead(self, backbone: backbone, keypoints: keypoints, store: store, engine: engine)
        }
    }
}
