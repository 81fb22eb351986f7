// The head's part of the ONNX inference graph, for each head kind: the pooled regression head as
// Gemm nodes; the heatmap and SimCC heads as Conv, MatMul, Reshape and Softmax nodes that compute
// exactly what their soft-argmax layers compute.
import Model

extension ONNXExport {
    /// Appends the head's nodes and initializers reading the backbone output `x` [N, C, h, w] and
    /// writing `keypoints` [N, 2K].
    static func appendHead(to g: inout ONNXGraph, from x: String, _ network: KeypointNetwork) throws {
        let config = network.config
        func values(_ name: String) throws -> [Float] {
            guard let v = network.store.values(name) else { throw ModelError("ONNX export: the network has no tensor \(name)") }
            return v
        }
        let k = config.keypoints, features = config.backbone.outputChannels
        switch config.head.kind {
        case .regression:
            let hidden = config.head.hidden
            g.nodes.append(ONNXNode(opType: "GlobalAveragePool", inputs: [x], outputs: ["head.pool"], name: "pool"))
            g.nodes.append(ONNXNode(opType: "Flatten", inputs: ["head.pool"], outputs: ["head.features"], name: "flatten",
                                    attributes: [.int("axis", 1)]))
            g.initializers.append(.float("head.dense1.weight", dims: [hidden, features], try values("head.dense1.weight")))
            g.initializers.append(.float("head.dense1.bias", dims: [hidden], try values("head.dense1.bias")))
            g.initializers.append(.float("head.out.weight", dims: [2 * k, hidden], try values("head.out.weight")))
            g.initializers.append(.float("head.out.bias", dims: [2 * k], try values("head.out.bias")))
            // Dense weights are stored [out, in]: Gemm computes features * W^T + b with transB = 1.
            g.nodes.append(ONNXNode(opType: "Gemm", inputs: ["head.features", "head.dense1.weight", "head.dense1.bias"],
                                    outputs: ["head.dense1"], name: "dense1", attributes: [.int("transB", 1)]))
            g.nodes.append(ONNXNode(opType: "Relu", inputs: ["head.dense1"], outputs: ["head.dense1_relu"], name: "dense1_relu"))
            // Dropout is the identity at inference and has no node.
            g.nodes.append(ONNXNode(opType: "Gemm", inputs: ["head.dense1_relu", "head.out.weight", "head.out.bias"],
                                    outputs: [outputName], name: "out", attributes: [.int("transB", 1)]))
        case .heatmap:
            try appendMaps(to: &g, from: x, keypoints: k, features: features, weights: values("head.maps.weight"))
            let h = config.backbone.outputSize, u = config.head.upsample, big = h * u
            var maps = "head.maps"
            if u > 1 {
                // Bilinear upsampling as two matrix products: Ay [H, h] @ L @ Ax^T [w, W].
                let a = SpatialSoftArgmax.interpolation(cells: h, factor: u)
                var transposed = [Float](repeating: 0, count: a.count)
                for o in 0..<big { for i in 0..<h { transposed[i * big + o] = a[o * h + i] } }
                g.initializers.append(.float("head.upsample_rows", dims: [big, h], a, doc: "bilinear x\(u), half-pixel, edges clamped"))
                g.initializers.append(.float("head.upsample_columns", dims: [h, big], transposed))
                g.nodes.append(ONNXNode(opType: "MatMul", inputs: ["head.upsample_rows", maps], outputs: ["head.maps_rows"], name: "upsample_rows"))
                g.nodes.append(ONNXNode(opType: "MatMul", inputs: ["head.maps_rows", "head.upsample_columns"], outputs: ["head.maps_up"],
                                        name: "upsample_columns"))
                maps = "head.maps_up"
            }
            let cells = big * big
            g.initializers.append(.int64("head.cells_shape", dims: [3], [0, Int64(k), Int64(cells)]))
            g.nodes.append(ONNXNode(opType: "Reshape", inputs: [maps, "head.cells_shape"], outputs: ["head.cells"], name: "cells"))
            g.nodes.append(ONNXNode(opType: "Softmax", inputs: ["head.cells"], outputs: ["head.probabilities"], name: "softmax",
                                    attributes: [.int("axis", -1)]))
            // Each cell's centre (x, y) in [0, 1]: expectation = probabilities [N, K, H*W] @ centres [H*W, 2].
            let c = (0..<big).map { (Float($0) + 0.5) / Float(big) }
            var centres = [Float](repeating: 0, count: 2 * cells)
            for r in 0..<big { for col in 0..<big { centres[2 * (r * big + col)] = c[col]; centres[2 * (r * big + col) + 1] = c[r] } }
            g.initializers.append(.float("head.cell_centres", dims: [cells, 2], centres))
            g.nodes.append(ONNXNode(opType: "MatMul", inputs: ["head.probabilities", "head.cell_centres"], outputs: ["head.expectation"],
                                    name: "soft_argmax"))
            try appendFlatKeypoints(to: &g, from: "head.expectation", keypoints: k)
        case .simcc:
            try appendMaps(to: &g, from: x, keypoints: k, features: features, weights: values("head.maps.weight"))
            let cells = config.backbone.outputSize * config.backbone.outputSize
            let bins = config.backbone.inputSize * config.head.splitRatio
            let w = try values("head.bins.weight")   // [2B, cells]
            var transposed = [Float](repeating: 0, count: w.count)
            for b in 0..<(2 * bins) { for i in 0..<cells { transposed[i * 2 * bins + b] = w[b * cells + i] } }
            g.initializers.append(.int64("head.flat_shape", dims: [3], [0, Int64(k), Int64(cells)]))
            g.initializers.append(.float("head.bins.weight_t", dims: [cells, 2 * bins], transposed, doc: "head.bins.weight transposed"))
            g.initializers.append(.float("head.bins.bias", dims: [2 * bins], try values("head.bins.bias")))
            g.initializers.append(.int64("head.axes_shape", dims: [4], [0, Int64(k), 2, Int64(bins)]))
            g.initializers.append(.float("head.bin_centres", dims: [bins, 1], (0..<bins).map { (Float($0) + 0.5) / Float(bins) }))
            g.nodes.append(ONNXNode(opType: "Reshape", inputs: ["head.maps", "head.flat_shape"], outputs: ["head.flat"], name: "flatten"))
            g.nodes.append(ONNXNode(opType: "MatMul", inputs: ["head.flat", "head.bins.weight_t"], outputs: ["head.bins_raw"], name: "bins"))
            g.nodes.append(ONNXNode(opType: "Add", inputs: ["head.bins_raw", "head.bins.bias"], outputs: ["head.bins"], name: "bins_bias"))
            // [N, K, 2B] -> [N, K, 2, B]: x-bins then y-bins; softmax per axis; expectation of the bin centres.
            g.nodes.append(ONNXNode(opType: "Reshape", inputs: ["head.bins", "head.axes_shape"], outputs: ["head.axes"], name: "axes"))
            g.nodes.append(ONNXNode(opType: "Softmax", inputs: ["head.axes"], outputs: ["head.probabilities"], name: "softmax",
                                    attributes: [.int("axis", -1)]))
            g.nodes.append(ONNXNode(opType: "MatMul", inputs: ["head.probabilities", "head.bin_centres"], outputs: ["head.expectation"],
                                    name: "soft_argmax"))
            try appendFlatKeypoints(to: &g, from: "head.expectation", keypoints: k)
        }
    }

    /// `head.maps` [N, K, h, w] = 1x1 convolution of the features, no bias.
    private static func appendMaps(to g: inout ONNXGraph, from x: String, keypoints k: Int, features: Int, weights: [Float]) throws {
        g.initializers.append(.float("head.maps.weight", dims: [k, features, 1, 1], weights))
        g.nodes.append(ONNXNode(opType: "Conv", inputs: [x, "head.maps.weight"], outputs: ["head.maps"], name: "maps",
                                attributes: [.ints("kernel_shape", [1, 1]), .ints("strides", [1, 1]),
                                             .ints("pads", [0, 0, 0, 0]), .ints("dilations", [1, 1]), .int("group", 1)]))
    }

    /// `keypoints` [N, 2K] from per-keypoint (x, y) pairs.
    private static func appendFlatKeypoints(to g: inout ONNXGraph, from pairs: String, keypoints k: Int) throws {
        g.initializers.append(.int64("head.output_shape", dims: [2], [0, Int64(2 * k)]))
        g.nodes.append(ONNXNode(opType: "Reshape", inputs: [pairs, "head.output_shape"], outputs: [outputName], name: "keypoints"))
    }
}
