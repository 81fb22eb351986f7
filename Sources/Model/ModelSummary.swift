// A network's summary, as `keypoints describe` prints it: each layer's kind, output shape and
// parameter count, the totals, and the multiply-adds of one image's forward pass.
import Compute
import Foundation

public struct ModelSummary: Sendable {
    public struct Row: Sendable {
        public var name: String
        /// `conv 3x3/2`, `depthwise 3x3/1`, `batch norm`, `ReLU6`, `dense`, ...
        public var kind: String
        /// Output shape of one image, without the batch dimension: [C, H, W] or [F].
        public var shape: [Int]
        public var parameters: Int
    }

    public var rows: [Row] = []
    public var parameterCount: Int
    public var statisticCount: Int
    /// Multiply-adds of one image's forward pass (convolutions and dense layers).
    public var multiplyAdds: Int
    /// One line on the architecture: alpha, input, head, keypoints.
    public var headline: String

    public init(_ network: KeypointNetwork) {
        let c = network.config, store = network.store
        headline = "MobileNetV1 alpha \(c.backbone.alpha), input \(c.backbone.inputSize)x\(c.backbone.inputSize)x3, "
            + "feature stride \(c.backbone.outputStride), head \(c.head.kind.rawValue): "
            + c.head.describe(keypoints: c.keypoints, backbone: c.backbone) + ", "
            + "K = \(c.keypoints) (\(c.keypointNames.joined(separator: ", ")))"
        var dims = [1, 3, c.backbone.inputSize, c.backbone.inputSize]
        for (i, named) in network.layers.enumerated() {
            dims = named.layer.outputDims(for: dims)
            let prefix = (i < network.backbone.layers.count ? "backbone." : "head.") + named.name + "."
            let count = store.layout.parameters.filter { $0.name.hasPrefix(prefix) }.reduce(0) { $0 + $1.count }
            rows.append(Row(name: named.name, kind: Self.kind(named.layer), shape: Array(dims.dropFirst()), parameters: count))
        }
        parameterCount = store.layout.parameterCount
        statisticCount = store.layout.statisticCount
        var side = c.backbone.inputSize, macs = 0
        for u in c.backbone.units {
            macs += u.geometry.multiplyAdds(h: side, w: side)
            side /= u.geometry.stride
        }
        multiplyAdds = macs + Self.headMultiplyAdds(c)
    }

    /// Multiply-adds of the head's dense and convolution layers for one image.
    static func headMultiplyAdds(_ c: ModelConfig) -> Int {
        let features = c.backbone.outputChannels, cells = c.backbone.outputSize * c.backbone.outputSize
        switch c.head.kind {
        case .regression: return features * c.head.hidden + c.head.hidden * 2 * c.keypoints
        case .heatmap: return features * c.keypoints * cells
        case .simcc: return features * c.keypoints * cells + c.keypoints * cells * 2 * c.backbone.inputSize * c.head.splitRatio
        }
    }

    /// The table and totals as text, one line each.
    public var lines: [String] {
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        var out = [headline, pad("layer", 20) + pad("kind", 24) + pad("output", 18) + "parameters"]
        for r in rows {
            out.append(pad(r.name, 20) + pad(r.kind, 24) + pad(r.shape.map(String.init).joined(separator: "x"), 18)
                       + (r.parameters > 0 ? "\(r.parameters)" : ""))
        }
        out.append("trainable parameters \(parameterCount), BN statistics \(statisticCount), "
                   + String(format: "%.1f M multiply-adds per image", Double(multiplyAdds) / 1e6))
        return out
    }

    private static func kind(_ layer: any Layer) -> String {
        switch layer {
        case let conv as Convolution2D:
            let g = conv.geometry
            return g.groups > 1 ? "depthwise \(g.kernel)x\(g.kernel)/\(g.stride)" : "conv \(g.kernel)x\(g.kernel)/\(g.stride)"
        case is BatchNorm: return "batch norm"
        case is BatchNormReLU6: return "batch norm + ReLU6"
        case let a as Activation: return a.kind == .relu6 ? "ReLU6" : "ReLU"
        case is GlobalAveragePool: return "global average pool"
        case is Linear: return "dense"
        case is Dropout: return "dropout"
        case let s as SpatialSoftArgmax: return s.upsample > 1 ? "bilinear x\(s.upsample), soft-argmax" : "soft-argmax"
        case is MapFlatten: return "flatten maps"
        case is AxisSoftArgmax: return "per-axis soft-argmax"
        default: return String(describing: type(of: layer))
        }
    }
}
