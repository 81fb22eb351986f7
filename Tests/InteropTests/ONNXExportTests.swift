// The ONNX export's graph: normalisation, 27 Conv + Clip pairs with Keras' padding, the head, and
// BatchNorm folding. (scripts/check-onnx.py, run by CLITests' ExportCommandTests, checks the file
// with the ONNX checker and ONNX Runtime.)
import XCTest
import Compute
@testable import Interop
import Model
import TestSupport

final class ONNXExportTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// The graph for a small network: normalisation, 27 Conv + Clip pairs with Keras' padding, the head.
    func testONNXGraphStructure() throws {
        let network = try KeypointNetwork(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(hidden: 8),
                                                      keypoints: 3, keypointNames: ["a", "b", "c"]))
        Initializer.he.initialise(network.store, seed: 1)
        let graph = try ONNXExport.graph(network)
        let ops = graph.nodes.map(\.opType)
        XCTAssertEqual(Array(ops.prefix(2)), ["Div", "Sub"])
        XCTAssertEqual(ops.filter { $0 == "Conv" }.count, 27)
        XCTAssertEqual(ops.filter { $0 == "Clip" }.count, 27)
        XCTAssertEqual(Array(ops.suffix(5)), ["GlobalAveragePool", "Flatten", "Gemm", "Relu", "Gemm"])
        XCTAssertEqual(graph.nodes.last?.outputs, ["keypoints"])
        XCTAssertEqual(graph.inputs.first?.shape, [.parameter("N"), .value(3), .value(96), .value(96)])
        XCTAssertEqual(graph.outputs.first?.shape, [.parameter("N"), .value(6)])

        func pads(_ name: String) -> [Int64]? {
            guard let node = graph.nodes.first(where: { $0.name == name }) else { return nil }
            for a in node.attributes where a.name == "pads" { if case .ints(let p) = a.value { return p } }
            return nil
        }
        XCTAssertEqual(pads("conv1"), [0, 0, 1, 1], "stride 2: ZeroPadding2D(((0,1),(0,1))) then valid")
        XCTAssertEqual(pads("conv_dw_2"), [0, 0, 1, 1])
        XCTAssertEqual(pads("conv_dw_1"), [1, 1, 1, 1], "stride 1, 3x3: same")
        XCTAssertEqual(pads("conv_pw_1"), [0, 0, 0, 0])

        let bytes = try ONNXExport.serialized(network, resize: "letterbox", producerVersion: "test")
        XCTAssertEqual(Array(bytes.prefix(2)), [0x08, 0x08], "ModelProto starts with ir_version = 8")
    }

    /// Folded conv + bias equals conv -> BN (running statistics) for each output channel of a 1x1 conv.
    func testBatchNormFolding() {
        let weight: [Float] = [0.5, -1, 2, 0.25, 3, -0.5]   // [O 2, I 3, 1, 1]
        let gamma: [Float] = [1.5, 0.5], beta: [Float] = [0.1, -0.2]
        let mean: [Float] = [0.3, -1], variance: [Float] = [4, 0.25]
        let (w, b) = BatchNormFolding.fold(weight: weight, gamma: gamma, beta: beta, mean: mean, variance: variance,
                                              epsilon: 1e-3)
        let x: [Float] = [1, 2, -3]
        for o in 0..<2 {
            let conv = (0..<3).map { weight[3 * o + $0] * x[$0] }.reduce(0, +)
            let bn = gamma[o] * (conv - mean[o]) / (variance[o] + 1e-3).squareRoot() + beta[o]
            let folded = (0..<3).map { w[3 * o + $0] * x[$0] }.reduce(0, +) + b[o]
            XCTAssertEqual(folded, bn, accuracy: 1e-5, "channel \(o)")
        }
    }
}
