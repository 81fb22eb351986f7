// The model summary `describe` prints: rows add up to the parameter count, and MobileNetV1 at alpha
// 1.0, 224 px costs what the paper says (Howard et al. 2017, Table 4: 569 M multiply-adds).
import Model
import XCTest

final class ModelSummaryTests: XCTestCase {
    func testRowsAddUpAndMultiplyAddsMatchThePaper() throws {
        let network = try KeypointNetwork(ModelConfig(backbone: MobileNetV1Config(alpha: 1.0, inputSize: 224),
                                                      head: HeadConfig(hidden: 1024), keypoints: 4))
        let summary = ModelSummary(network)
        XCTAssertEqual(summary.rows.reduce(0) { $0 + $1.parameters }, summary.parameterCount)
        XCTAssertEqual(summary.rows.first { $0.name == "conv_pw_13" }?.shape, [1024, 7, 7])
        XCTAssertEqual(summary.rows.first { $0.name == "conv1" }?.kind, "conv 3x3/2")
        // The paper's 569 M include a 1024 x 1000 classifier; ours a 1024 x 1024 + 1024 x 8 head.
        XCTAssertEqual(Double(summary.multiplyAdds) / 1e6, 569, accuracy: 2)
        XCTAssertTrue(summary.lines.last!.contains("M multiply-adds per image"), summary.lines.last!)
    }
}
