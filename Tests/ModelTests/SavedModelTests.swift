// Saved models: a save/load round trip reproduces every tensor and the predictions; broken folders
// (missing tensor, wrong shape, corrupt safetensors, missing or foreign manifest) give a ModelError
// naming the file and the tensor; and the safetensors bytes follow the format, read here by hand.
import XCTest
import Foundation
import Compute
import Model
import TestSupport
import ModelFiles

final class SavedModelTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    private var directory: URL!
    private var weightsPath: String { directory.appendingPathComponent(SavedModel.weightsFile).path }
    private var manifestPath: String { directory.appendingPathComponent(SavedModel.manifestFile).path }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("SavedModelTests-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// A small network with initialised weights and non-default BN statistics (so they must be saved).
    private func makeNetwork() throws -> KeypointNetwork {
        try smallNetworkWithStatistics(seed: 5, dropout: 0.1)
    }

    /// The error `body` throws, as a ModelError's message (fails the test for anything else).
    private func modelError(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try body()
            XCTFail("expected a ModelError", file: file, line: line)
        } catch let error as ModelError {
            return error.description
        } catch {
            XCTFail("expected a ModelError, got \(type(of: error)): \(error)", file: file, line: line)
        }
        return ""
    }

    /// Decodes the saved weights, lets `edit` change the tensors, and writes them back.
    private func rewriteWeights(_ edit: (inout [NamedTensor]) -> Void) throws {
        let url = directory.appendingPathComponent(SavedModel.weightsFile)
        let decoded = try SafeTensors.decode(try Data(contentsOf: url), source: url.path)
        var tensors = decoded.tensors.values.sorted { $0.name < $1.name }
        edit(&tensors)
        try SafeTensors.encode(tensors, metadata: decoded.metadata).write(to: url)
    }

    /// Splits a safetensors file into its header (parsed JSON) and data section.
    private func parse(_ data: Data, file: StaticString = #filePath, line: UInt = #line) throws
        -> (headerLength: Int, header: [String: Any], body: Data) {
        let bytes = [UInt8](data)
        XCTAssertGreaterThanOrEqual(bytes.count, 8, file: file, line: line)
        // 8-byte little-endian header length, assembled byte by byte.
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        XCTAssertLessThanOrEqual(8 + n, bytes.count, file: file, line: line)
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any],
                                   file: file, line: line)
        return (n, header, Data(bytes[(8 + n)...]))
    }

    func testRoundTripReproducesTensorsAndPredictions() throws {
        let network = try makeNetwork()
        try SavedModel.save(network, to: directory, training: ["steps": "120", "loss": "0.0123"])
        let loaded = try SavedModel.load(from: directory)

        XCTAssertEqual(loaded.config, network.config)
        XCTAssertEqual(loaded.config.keypointNames, ["nose", "left_eye", "right_eye"])
        XCTAssertEqual(try SavedModel.manifest(at: directory).training, ["steps": "120", "loss": "0.0123"])
        for spec in network.store.layout.parameters + network.store.layout.statistics {
            XCTAssertEqual(loaded.store.values(spec.name), network.store.values(spec.name), spec.name)
        }
        XCTAssertEqual(loaded.store.parameters.array, network.store.parameters.array)
        XCTAssertEqual(loaded.store.statistics.array, network.store.statistics.array)

        // Inference uses the running statistics, so they must have come back too.
        let images = randomArray(2 * 3 * 96 * 96, seed: 6)
        let expected = try network.predict(images, batch: 2)
        XCTAssertEqual(try loaded.predict(images, batch: 2), expected)
        // Guard: a network with the default statistics predicts differently, so the comparison shows something.
        let defaults = try KeypointNetwork(network.config)
        Initializer.he.initialise(defaults.store, seed: 5)
        XCTAssertNotEqual(try defaults.predict(images, batch: 2), expected)

        // Saving again over an existing folder replaces the files.
        network.store.setValues("head.out.bias", [1, 2, 3, 4, 5, 6])
        try SavedModel.save(network, to: directory)
        XCTAssertEqual(try SavedModel.load(from: directory).store.values("head.out.bias"), [1, 2, 3, 4, 5, 6])
    }

    /// A backbone from a model without a neck (as every imported MobileNet) goes into a heatmap
    /// network with one: the MobileNet blocks are copied, the neck keeps its own initial values;
    /// from a model with the same neck, the neck is copied too.
    func testBackboneIntoANetworkWithANeck() throws {
        let plain = try KeypointNetwork(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96, outputStride: 16),
                                                    head: .init(kind: .heatmap), keypoints: 3))
        Initializer.he.initialise(plain.store, seed: 1)
        try SavedModel.save(plain, to: directory)
        let necked = ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96, outputStride: 16, neck: 32),
                                 head: .init(kind: .heatmap), keypoints: 3)
        let target = try KeypointNetwork(necked)
        Initializer.he.initialise(target.store, seed: 2)
        let neckBefore = target.store.values("backbone.neck_pw.weight")
        try SavedModel.loadBackbone(into: target, from: directory)
        XCTAssertEqual(target.store.values("backbone.conv_pw_11.weight"), plain.store.values("backbone.conv_pw_11.weight"))
        XCTAssertEqual(target.store.values("backbone.neck_pw.weight"), neckBefore)
        XCTAssertEqual(target.config.backbone.units.map(\.name).suffix(3), ["conv_pw_11", "neck_dw", "neck_pw"])

        let other = try KeypointNetwork(necked)
        Initializer.he.initialise(other.store, seed: 3)
        try SavedModel.save(other, to: directory)
        try SavedModel.loadBackbone(into: target, from: directory)
        XCTAssertEqual(target.store.values("backbone.neck_pw.weight"), other.store.values("backbone.neck_pw.weight"))
    }

    func testMissingTensorNamesFileAndTensor() throws {
        try SavedModel.save(try makeNetwork(), to: directory)
        try rewriteWeights { $0.removeAll { $0.name == "backbone.conv_dw_3_bn.running_var" } }
        let message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertTrue(message.contains(weightsPath), message)
        XCTAssertTrue(message.contains("backbone.conv_dw_3_bn.running_var"), message)
    }

    func testWrongShapeNamesFileTensorAndShapes() throws {
        try SavedModel.save(try makeNetwork(), to: directory)
        // Same number of values, transposed shape: only the shape check can catch it.
        try rewriteWeights { tensors in
            let i = tensors.firstIndex { $0.name == "head.out.weight" }!
            tensors[i].shape = [16, 6]
        }
        let message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertEqual(message, "\(weightsPath): tensor head.out.weight has shape [16, 6], the model needs [6, 16]")
    }

    func testCorruptSafetensorsNamesFile() throws {
        try SavedModel.save(try makeNetwork(), to: directory)
        let url = directory.appendingPathComponent(SavedModel.weightsFile)
        let good = try Data(contentsOf: url)

        // Header bytes that are not JSON.
        var bad = good
        bad[8] = UInt8(ascii: "X")
        try bad.write(to: url)
        var message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertTrue(message.hasPrefix("\(weightsPath): not a valid safetensors file (header is not a JSON object)"), message)

        // A header length beyond the end of the file.
        bad = good
        bad.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0x00, 0, 0, 0, 0])
        try bad.write(to: url)
        message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertTrue(message.hasPrefix("\(weightsPath): not a valid safetensors file (header length"), message)

        // Too short to hold a header length.
        try Data([1, 2, 3]).write(to: url)
        message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertTrue(message.hasPrefix("\(weightsPath): not a valid safetensors file"), message)

        // A truncated data section: some tensor's byte range no longer fits, and the message names it.
        try good.prefix(good.count - 4).write(to: url)
        message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertTrue(message.hasPrefix("\(weightsPath): not a valid safetensors file (tensor "), message)
        XCTAssertTrue(message.contains("does not fit its shape"), message)

        // A tensor in another dtype: the message names the tensor and the dtype.
        let parsed = try parse(good)
        var header = parsed.header
        var entry = header["backbone.conv_pw_2.weight"] as! [String: Any]
        entry["dtype"] = "F16"
        header["backbone.conv_pw_2.weight"] = entry
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        let n = json.count
        try (Data((0..<8).map { UInt8((n >> (8 * $0)) & 0xFF) }) + json + parsed.body).write(to: url)
        message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertTrue(message.hasPrefix(weightsPath), message)
        XCTAssertTrue(message.contains("tensor backbone.conv_pw_2.weight has dtype F16"), message)
    }

    func testMissingFilesAndForeignManifest() throws {
        // No folder at all.
        var message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertTrue(message.contains(manifestPath) && message.contains(SavedModel.weightsFile), message)

        // Weights without a manifest.
        try SavedModel.save(try makeNetwork(), to: directory)
        let manifest = try Data(contentsOf: URL(fileURLWithPath: manifestPath))
        try FileManager.default.removeItem(atPath: manifestPath)
        message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertEqual(message, "\(manifestPath) not found: a saved model is a folder holding model.json and model.safetensors")

        // A manifest without weights.
        try manifest.write(to: URL(fileURLWithPath: manifestPath))
        try FileManager.default.removeItem(atPath: weightsPath)
        message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertEqual(message, "\(weightsPath) not found or unreadable")

        // A manifest of a newer format version, and one that is not a manifest.
        try SavedModel.save(try makeNetwork(), to: directory)
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: manifest) as? [String: Any])
        object["version"] = 2
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: manifestPath))
        message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertEqual(message, "\(manifestPath): format keypoints-model v2 is not readable by this build (expects keypoints-model v1)")
        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: manifestPath))
        message = modelError { try SavedModel.load(from: self.directory) }
        XCTAssertTrue(message.hasPrefix("\(manifestPath) is not a valid model manifest"), message)
    }

    /// The format by hand on two tiny tensors: header length, JSON header, exact data bytes.
    func testSafetensorsBytes() throws {
        let data = try SafeTensors.encode([NamedTensor(name: "a", shape: [2], values: [1, -2]),
                                           NamedTensor(name: "b", shape: [1, 1], values: [0.5])],
                                          metadata: ["format": "test"])
        let (n, header, body) = try parse(data)
        XCTAssertEqual((8 + n) % 8, 0, "data must start 8-byte aligned")
        XCTAssertEqual(header["__metadata__"] as? [String: String], ["format": "test"])
        let a = try XCTUnwrap(header["a"] as? [String: Any]), b = try XCTUnwrap(header["b"] as? [String: Any])
        XCTAssertEqual(a["dtype"] as? String, "F32")
        XCTAssertEqual(a["shape"] as? [Int], [2])
        XCTAssertEqual(a["data_offsets"] as? [Int], [0, 8])
        XCTAssertEqual(b["dtype"] as? String, "F32")
        XCTAssertEqual(b["shape"] as? [Int], [1, 1])
        XCTAssertEqual(b["data_offsets"] as? [Int], [8, 12])
        // 1.0 = 0x3F800000, -2.0 = 0xC0000000, 0.5 = 0x3F000000, each little-endian.
        XCTAssertEqual([UInt8](body), [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x3F])

        let decoded = try SafeTensors.decode(data, source: "test")
        XCTAssertEqual(decoded.metadata, ["format": "test"])
        XCTAssertEqual(decoded.tensors["a"], NamedTensor(name: "a", shape: [2], values: [1, -2]))
        XCTAssertEqual(decoded.tensors["b"], NamedTensor(name: "b", shape: [1, 1], values: [0.5]))
    }

    /// The saved file holds every tensor under its dotted name, F32, with its shape, back to back in
    /// layout order, and the bytes decode to the network's values.
    func testSavedFileLayout() throws {
        let network = try makeNetwork()
        try SavedModel.save(network, to: directory)
        let (_, header, body) = try parse(try Data(contentsOf: URL(fileURLWithPath: weightsPath)))
        let metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
        XCTAssertEqual(metadata["format"], "keypoints-model")
        let specs = network.store.layout.parameters + network.store.layout.statistics
        XCTAssertEqual(Set(header.keys), Set(specs.map(\.name) + ["__metadata__"]))
        var end = 0
        let bytes = [UInt8](body)
        for spec in specs {
            let entry = try XCTUnwrap(header[spec.name] as? [String: Any], spec.name)
            XCTAssertEqual(entry["dtype"] as? String, "F32", spec.name)
            XCTAssertEqual(entry["shape"] as? [Int], spec.shape, spec.name)
            let offsets = try XCTUnwrap(entry["data_offsets"] as? [Int], spec.name)
            XCTAssertEqual(offsets, [end, end + 4 * spec.count], spec.name)
            end += 4 * spec.count
            let values = (0..<spec.count).map { i -> Float in
                let o = offsets[0] + 4 * i
                return Float(bitPattern: UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24)
            }
            XCTAssertEqual(values, network.store.values(spec.name), spec.name)
        }
        XCTAssertEqual(end, bytes.count, "the data section holds exactly the tensors")
    }
}
