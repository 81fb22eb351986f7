// Keras weight import: our backbone with weights read from Keras' own .h5 files reproduces Keras'
// backbone output (fixture made by scripts/make-keras-fixture.py with tf-keras and Keras 3);
// both file layouts give the same tensors; broken or foreign files give errors naming the layer.
import XCTest
import Foundation
import Compute
@testable import Interop
import Model
import TestSupport
import ModelFiles

final class KerasImportTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// Tests/InteropTests/Fixtures/<name>.
    private func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
    }

    private let legacyFile = "mobilenet_0_25_96_keras2.h5"
    private let keras3File = "mobilenet_0_25_96.weights.h5"

    /// Keras' inference output for the fixture input, against ours with the imported weights.
    func testImportedBackboneMatchesKerasOutput() throws {
        let imported = try KerasMobileNetImport.read(path: fixture(legacyFile))
        XCTAssertEqual(imported.alpha, 0.25)
        XCTAssertEqual(imported.tensors.count, 27 * 5)
        XCTAssertEqual(imported.ignoredLayers, [])

        let io = Dictionary(uniqueKeysWithValues: try HDF5File(path: fixture("mobilenet_0_25_96_io.h5")).floatArrays().map { ($0.path, $0) })
        let input = try XCTUnwrap(io["input"]), expected = try XCTUnwrap(io["output"])
        XCTAssertEqual(input.shape, [2, 96, 96, 3])
        XCTAssertEqual(expected.shape, [2, 3, 3, 256])

        let network = try KeypointNetwork(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96)))
        for t in imported.tensors { network.store.setValues(t.name, t.values) }
        let x = try network.input(batch: 2)
        try x.load(plain: nhwcToNCHW(input.values, shape: input.shape))
        var h = x
        for l in network.backbone.layers { h = try l.layer.forward(h, mode: .inference) }
        let ours = try h.plain()
        let keras = nhwcToNCHW(expected.values, shape: expected.shape)
        let worst = zip(ours, keras).map { abs($0 - $1) }.max() ?? .infinity
        print("Keras parity: max |ours - keras| = \(worst) over \(ours.count) values (keras max \(keras.max()!))")
        XCTAssertLessThan(worst, 1e-5)
        assertNotNegligible(keras)
    }

    /// Keras 3 names layers by class and position; the mapping must land on the same tensors.
    func testKeras3FileGivesTheSameTensors() throws {
        let legacy = try KerasMobileNetImport.read(path: fixture(legacyFile))
        let modern = try KerasMobileNetImport.read(path: fixture(keras3File))
        XCTAssertEqual(modern.alpha, 0.25)
        XCTAssertEqual(modern.tensors, legacy.tensors)
    }

    func testWrongAlphaNamesBothWidths() throws {
        let message = error { try KerasMobileNetImport.read(path: fixture(legacyFile), alpha: 0.5) }
        XCTAssertTrue(message.contains("alpha 0.25") && message.contains("not 0.5"), message)
    }

    func testMissingLayerIsNamed() throws {
        let message = error { try KerasMobileNetImport.read(path: fixture("truncated.h5")) }
        XCTAssertTrue(message.contains("truncated.h5") && message.contains("layer conv_dw_1"), message)
    }

    func testWrongShapeIsNamed() throws {
        let message = error { try KerasMobileNetImport.read(path: fixture("bad_shape.h5")) }
        XCTAssertTrue(message.contains("layer conv_dw_1_bn gamma has shape [9]") && message.contains("[8]"), message)
    }

    func testFileThatIsNotAMobileNet() throws {
        let message = error { try KerasMobileNetImport.read(path: fixture("mobilenet_0_25_96_io.h5")) }
        XCTAssertTrue(message.contains("not a keras.applications.MobileNet") && message.contains("input"), message)
    }

    func testFileThatIsNotHDF5OrMissing() throws {
        let text = FileManager.default.temporaryDirectory.appendingPathComponent("not-hdf5-\(UUID().uuidString).h5")
        try Foundation.Data("conv1,kernel\n".utf8).write(to: text)
        defer { try? FileManager.default.removeItem(at: text) }
        XCTAssertTrue(error { try KerasMobileNetImport.read(path: text.path) }.contains("is not an HDF5 file"))
        XCTAssertTrue(error { try KerasMobileNetImport.read(path: "/nonexistent/weights.h5") }.contains("/nonexistent/weights.h5"))
    }

    /// import -> backbone folder -> a keypoint network of the same width; refused where it does not fit.
    func testBackboneFolderRoundTrip() throws {
        let imported = try KerasMobileNetImport.read(path: fixture(legacyFile))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("backbone-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try SavedModel.saveBackbone(imported.tensors, config: .init(alpha: 0.25, inputSize: 224), to: folder,
                                    provenance: ["source": "keras"])
        let network = try KeypointNetwork(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 128), keypoints: 3))
        let headBefore = network.store.values("head.out.weight")
        try SavedModel.loadBackbone(into: network, from: folder)
        for t in imported.tensors { XCTAssertEqual(network.store.values(t.name), t.values, t.name) }
        XCTAssertEqual(network.store.values("head.out.weight"), headBefore)

        XCTAssertTrue(error { try SavedModel.load(from: folder) }.contains("holds only a MobileNet backbone"))
        let wider = try KeypointNetwork(ModelConfig(backbone: .init(alpha: 0.5, inputSize: 96)))
        XCTAssertTrue(error { try SavedModel.loadBackbone(into: wider, from: folder) }.contains("alpha 0.25"))
    }

    private func error(_ body: () throws -> Any) -> String {
        do { _ = try body() } catch { return "\(error)" }
        XCTFail("expected an error")
        return ""
    }

    /// [N, H, W, C] -> [N, C, H, W].
    private func nhwcToNCHW(_ v: [Float], shape: [Int]) -> [Float] {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        var out = [Float](repeating: 0, count: v.count)
        for i in 0..<n { for y in 0..<h { for x in 0..<w { for ch in 0..<c {
            out[((i * c + ch) * h + y) * w + x] = v[((i * h + y) * w + x) * c + ch]
        } } } }
        return out
    }
}

/// Where Keras puts a layer's variables, in every layout the importer reads (no file needed).
final class KerasLayerPathTests: XCTestCase {
    private func layers(_ paths: [String]) -> KerasLayers {
        KerasLayers(paths.map { StoredArray(path: $0, shape: [1], values: [0]) })
    }

    func testLegacyWholeModelAndNestedPathsFindTheLayer() {
        for path in ["conv1/conv1/kernel:0", "model_weights/conv1/conv1/kernel:0",
                     "mobilenet_0.25_96/conv1/kernel:0", "model_weights/mobilenet_0.25_96/conv1/kernel:0"] {
            XCTAssertNotNil(layers([path]).variables["conv1"]?["kernel"], path)
        }
    }

    func testOptimizerStateIsNotALayer() {
        let l = layers(["optimizer_weights/Adam/conv1/kernel/m:0", "optimizer/vars/3", "conv1/conv1/kernel:0"])
        XCTAssertEqual(l.names, ["conv1"])
    }

    func testKeras3NestedModelIsNamedByPosition() {
        var l = layers(["layers/dense/vars/0", "layers/functional/layers/conv2d/vars/0",
                        "layers/functional/layers/depthwise_conv2d/vars/0", "layers/functional/layers/conv2d_1/vars/0",
                        "layers/functional/layers/batch_normalization_2/vars/3"])
        l.nameKeras3Layers(MobileNetV1Config().units)
        XCTAssertNotNil(l.variables["conv1"]?["#0"])
        XCTAssertNotNil(l.variables["conv_dw_1"]?["#0"])
        XCTAssertNotNil(l.variables["conv_pw_1"]?["#0"])
        XCTAssertNotNil(l.variables["conv_pw_1_bn"]?["#3"])
        XCTAssertEqual(l.names.filter { !$0.hasPrefix("conv") }, ["layers/dense"])
    }

    /// Keras 3 counts layers per model: the user's own `conv2d` (with a bias) must not merge into
    /// the nested MobileNet's `conv2d`.
    func testKeras3UserLayersDoNotMergeWithMobileNets() {
        var l = layers(["layers/conv2d/vars/0", "layers/conv2d/vars/1", "layers/depthwise_conv2d/vars/0",
                        "layers/functional/layers/conv2d/vars/0", "layers/functional/layers/depthwise_conv2d/vars/0",
                        "layers/functional/layers/depthwise_conv2d_1/vars/0"])
        l.nameKeras3Layers(MobileNetV1Config().units)
        XCTAssertEqual(l.variables["conv1"]?["#0"]?.path, "layers/functional/layers/conv2d/vars/0")
        XCTAssertNil(l.variables["conv1"]?["#1"])
        XCTAssertEqual(l.variables["conv_dw_1"]?["#0"]?.path, "layers/functional/layers/depthwise_conv2d/vars/0")
        XCTAssertNotNil(l.variables["layers/conv2d"])
    }
}
