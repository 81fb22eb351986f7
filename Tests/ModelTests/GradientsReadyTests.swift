// KeypointNetwork.backward's gradientsReady reports, on which a worker sends gradient buckets while
// backward still runs: every tensor it reports as final holds its final gradient at that moment,
// the reports walk from the head to the first convolution, and a frozen backbone reports the head's
// tensors only. And forward's weightsNeeded requests, on which a worker computes while the later
// weights still arrive: no layer reads a weight it did not ask for first.
import Compute
import Model
import TestSupport
import XCTest

final class GradientsReadyTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useOneComputeThread()
    }

    /// One training forward and backward of a 2-image batch; every report's tensors, copied when
    /// reported, with the tensor index reported.
    private func reports(_ network: KeypointNetwork) throws -> [(first: Int, values: [Float])] {
        let store = network.store
        let x = try network.input(batch: 2)
        try x.load(plain: randomArray(2 * 3 * 96 * 96, seed: 7))
        let predictions = try network.forward(x, mode: .training(seed: 3)).plain()
        let targets = randomArray(predictions.count, seed: 8, in: 0...1)
        let dy = Loss.mse.evaluate(predictions: predictions, targets: targets, mask: [Float](repeating: 1, count: 8), normalizer: 1).gradient
        // A sentinel everywhere: a tensor reported before its gradient is written would show it.
        store.gradients.base.update(repeating: .nan, count: store.gradients.count)
        var seen: [(Int, [Float])] = []
        try network.backward(dy) { first in
            let from = first < store.layout.parameters.count ? store.layout.parameters[first].offset : store.layout.parameterCount
            seen.append((first, Array(UnsafeBufferPointer(start: store.gradients.base + from, count: store.layout.parameterCount - from))))
        }
        return seen
    }

    func testEveryReportedTensorHoldsItsFinalGradientAndReportsWalkFromTheHeadToConv1() throws {
        for kind in HeadKind.allCases {
            let network = try KeypointNetwork(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(kind: kind, hidden: 8),
                                                          keypoints: 4))
            Initializer.he.initialise(network.store, seed: 5)
            let seen = try reports(network)
            let final = network.store.gradients.array
            let tensors = network.store.layout.parameters
            XCTAssertEqual(seen.last?.first, 0, "\(kind): conv1's weight was never reported final")
            XCTAssertEqual(seen.map(\.first), seen.map(\.first).sorted(by: >), "\(kind): reports must walk back through the layout")
            XCTAssertEqual(Set(seen.map(\.first)).count, seen.count, "\(kind): a report repeated")
            // One report per layer with parameters: the head's, then 27 convolutions and 27 BN layers.
            let headTensors = tensors.firstIndex { $0.name.hasPrefix("head.") }!
            XCTAssertEqual(seen.first.map { $0.first >= headTensors }, true, "\(kind): the first report is the head's")
            XCTAssertGreaterThanOrEqual(seen.count, 54, "\(kind): \(seen.map(\.first))")
            for (first, values) in seen {
                let from = tensors[first].offset
                XCTAssertFalse(values.contains { $0.isNaN }, "\(kind): \(tensors[first].name) reported before backward wrote it")
                XCTAssertEqual(values, Array(final[from...]), "\(kind): a gradient reported final at \(tensors[first].name) changed later")
            }
        }
    }

    func testAFrozenBackboneReportsTheHeadsTensorsOnly() throws {
        let network = try KeypointNetwork(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(kind: .heatmap), keypoints: 4))
        Initializer.he.initialise(network.store, seed: 5)
        network.backboneFrozen = true
        let seen = try reports(network)
        let headTensors = network.store.layout.parameters.firstIndex { $0.name.hasPrefix("head.") }!
        XCTAssertEqual(seen.map(\.first), [headTensors], "a frozen backbone's tensors are never final in a backward")
    }

    /// A forward whose weights beyond what it asked for are NaN until it asks: the predictions are
    /// those of the network holding every weight from the start, bit for bit.
    func testAForwardReadsNoWeightItDidNotAskFor() throws {
        for kind in HeadKind.allCases {
            let network = try KeypointNetwork(ModelConfig(backbone: .init(alpha: 0.25, inputSize: 96), head: .init(kind: kind, hidden: 8),
                                                          keypoints: 4))
            Initializer.he.initialise(network.store, seed: 5)
            let store = network.store, tensors = store.layout.parameters
            let x = try network.input(batch: 2)
            try x.load(plain: randomArray(2 * 3 * 96 * 96, seed: 7))
            let expected = try network.forward(x, mode: .training(seed: 3)).plain()
            let weights = store.parameters.array
            store.parameters.base.update(repeating: .nan, count: store.parameters.count)
            var asked: [Int] = []
            let predictions = try network.forward(x, mode: .training(seed: 3), weightsNeeded: { t in
                let upTo = t < tensors.count ? tensors[t].offset : store.layout.parameterCount
                weights.withUnsafeBufferPointer { store.parameters.base.update(from: $0.baseAddress!, count: upTo) }
                asked.append(t)
            }).plain()
            XCTAssertEqual(predictions.map(\.bitPattern), expected.map(\.bitPattern), "\(kind): a layer read a weight before asking for it")
            XCTAssertEqual(asked, asked.sorted(), "\(kind)")
            XCTAssertEqual(asked.last, tensors.count, "\(kind): the forward ends with every weight")
            XCTAssertLessThanOrEqual(asked.first ?? .max, 3, "\(kind): conv1 should need its own tensors only: \(asked)")
            XCTAssertGreaterThanOrEqual(asked.count, 27, "\(kind): one request per block at least: \(asked)")
        }
    }
}
