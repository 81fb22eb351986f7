// The optimizers (SGD plain, momentum, Nesterov; Adam; AdamW) one and two steps at a time against
// hand-computed values, weight decay by tensor role, frozen tensors, per-tensor step counts (Adam's
// bias correction), and global-norm gradient clipping.
import XCTest
import Compute
import Model
import TestSupport

final class OptimizerTests: XCTestCase {
    /// A handful of tiny tensors of every role, in one flat parameter buffer and one gradient buffer.
    private final class Fixture {
        let layout: ParameterLayout
        let parameters: FlatBuffer
        let gradients: FlatBuffer

        init() {
            var layout = ParameterLayout()
            layout.addParameter("dense.weight", [1, 3], .linearWeight)   // index 0
            layout.addParameter("dense.bias", [2], .bias)                // 1
            layout.addParameter("bn.gamma", [2], .normScale)             // 2
            layout.addParameter("bn.beta", [2], .normShift)              // 3
            layout.addParameter("conv.weight", [2, 1, 1, 1], .convolutionWeight)  // 4
            self.layout = layout
            parameters = FlatBuffer(count: layout.parameterCount)
            gradients = FlatBuffer(count: layout.parameterCount)
            set("dense.weight", [1, -2, 0.5])
            set("dense.bias", [0.25, -0.75])
            set("bn.gamma", [1.5, 0.5])
            set("bn.beta", [-0.5, 0.2])
            set("conv.weight", [2, -1])
        }

        func spec(_ name: String) -> TensorSpec { layout.parameters.first { $0.name == name }! }
        func set(_ name: String, _ values: [Float], in buffer: FlatBuffer? = nil) {
            let s = spec(name)
            precondition(values.count == s.count)
            for (j, v) in values.enumerated() { (buffer ?? parameters)[s.offset + j] = v }
        }
        func get(_ name: String, in buffer: FlatBuffer? = nil) -> [Float] {
            Array((buffer ?? parameters).array[spec(name).range])
        }
        func setGradient(_ name: String, _ values: [Float]) { set(name, values, in: gradients) }
    }

    private let g1: [Float] = [0.5, 1, -1]
    private let g2: [Float] = [0.5, -1, 2]

    /// Two steps on `dense.weight` = (1, -2, 0.5) with gradients g1 then g2; returns the weights after each.
    private func twoSteps(_ kind: OptimizerKind, lr: Float = 0.1, weightDecay: Float = 0) -> ([Float], [Float]) {
        let f = Fixture()
        let optimizer = Optimizer(kind, weightDecay: weightDecay, layout: f.layout)
        f.setGradient("dense.weight", g1)
        optimizer.step(parameters: f.parameters, gradients: f.gradients, lr: lr)
        let first = f.get("dense.weight")
        f.setGradient("dense.weight", g2)
        optimizer.step(parameters: f.parameters, gradients: f.gradients, lr: lr)
        return (first, f.get("dense.weight"))
    }

    func testPlainSGD() {
        // w1 = w0 - 0.1 g1 = (1 - 0.05, -2 - 0.1, 0.5 + 0.1) = (0.95, -2.1, 0.6)
        // w2 = w1 - 0.1 g2 = (0.95 - 0.05, -2.1 + 0.1, 0.6 - 0.2) = (0.9, -2.0, 0.4)
        let (w1, w2) = twoSteps(.sgd(momentum: 0, nesterov: false))
        assertClose(w1, [0.95, -2.1, 0.6], atol: 1e-6, rtol: 1e-6, "step 1")
        assertClose(w2, [0.9, -2.0, 0.4], atol: 1e-6, rtol: 1e-6, "step 2")
    }

    func testSGDWithMomentum() {
        // Velocity m = mu m + g (PyTorch's rule), w -= lr m; mu 0.9.
        // Step 1: m = g1 = (0.5, 1, -1); w1 = (0.95, -2.1, 0.6).
        // Step 2: m = 0.9 g1 + g2 = (0.45 + 0.5, 0.9 - 1, -0.9 + 2) = (0.95, -0.1, 1.1);
        //         w2 = w1 - 0.1 m = (0.855, -2.09, 0.49).
        let (w1, w2) = twoSteps(.sgd(momentum: 0.9, nesterov: false))
        assertClose(w1, [0.95, -2.1, 0.6], atol: 1e-6, rtol: 1e-6, "step 1")
        assertClose(w2, [0.855, -2.09, 0.49], atol: 1e-6, rtol: 1e-6, "step 2")
    }

    func testNesterovSGD() {
        // m = mu m + g, then w -= lr (g + mu m); mu 0.9.
        // Step 1: m = g1; update g1 + 0.9 g1 = (0.95, 1.9, -1.9); w1 = (0.905, -2.19, 0.69).
        // Step 2: m = (0.95, -0.1, 1.1); update g2 + 0.9 m = (0.5 + 0.855, -1 - 0.09, 2 + 0.99)
        //         = (1.355, -1.09, 2.99); w2 = w1 - 0.1 update = (0.7695, -2.081, 0.391).
        let (w1, w2) = twoSteps(.sgd(momentum: 0.9, nesterov: true))
        assertClose(w1, [0.905, -2.19, 0.69], atol: 1e-6, rtol: 1e-6, "step 1")
        assertClose(w2, [0.7695, -2.081, 0.391], atol: 1e-6, rtol: 1e-6, "step 2")
    }

    func testAdam() {
        // beta1 0.9, beta2 0.999, epsilon 1e-8, lr 0.1.
        // Step 1: m = 0.1 g1, v = 0.001 g1^2; bias-corrected m / (1 - 0.9) = g1, v / (1 - 0.999) = g1^2,
        //         so each weight moves by lr * sign(g1): w1 = (0.9, -2.1, 0.6).
        // Step 2: c1 = 1 - 0.81 = 0.19, c2 = 1 - 0.998001 = 0.001999.
        //   w[0]: g 0.5, 0.5: m = 0.045 + 0.05 = 0.095, m/c1 = 0.5; v = 0.25 (0.000999 + 0.001), v/c2 = 0.25;
        //         w2 = 0.9 - 0.1 * 0.5 / 0.5 = 0.8.
        //   w[1]: g 1, -1: m = 0.09 - 0.1 = -0.01, m/c1 = -0.0526316; v = 0.001999, v/c2 = 1;
        //         w2 = -2.1 + 0.1 * 0.0526316 = -2.0947368.
        //   w[2]: g -1, 2: m = -0.09 + 0.2 = 0.11, m/c1 = 0.5789474; v = 0.000999 + 0.004 = 0.004999,
        //         v/c2 = 2.5007504, sqrt 1.5813761; w2 = 0.6 - 0.1 * 0.5789474 / 1.5813761 = 0.5633896.
        let (w1, w2) = twoSteps(.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8))
        assertClose(w1, [0.9, -2.1, 0.6], atol: 1e-6, rtol: 1e-6, "step 1")
        assertClose(w2, [0.8, -2.0947368, 0.5633896], atol: 2e-6, rtol: 2e-6, "step 2")
    }

    func testWeightDecayCoupledForSGDAndAdamDecoupledForAdamW() {
        // Weight decay 0.5, lr 0.1, gradient g1 = (0.5, 1, -1) on w = (1, -2, 0.5).
        // SGD (L2 added to the gradient): g' = g1 + 0.5 w = (1, 0, -0.75); w1 = w - 0.1 g' = (0.9, -2, 0.575).
        let sgd = twoSteps(.sgd(momentum: 0, nesterov: false), weightDecay: 0.5).0
        assertClose(sgd, [0.9, -2, 0.575], atol: 1e-6, rtol: 1e-6, "SGD + L2")
        // Adam (L2 added to the gradient): g' = (1, 0, -0.75); the first step moves by lr sign(g'),
        // and not at all where g' = 0: w1 = (0.9, -2, 0.6).
        let adam = twoSteps(.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8), weightDecay: 0.5).0
        assertClose(adam, [0.9, -2, 0.6], atol: 1e-6, rtol: 1e-6, "Adam + L2")
        // AdamW: w (1 - lr wd) - lr sign(g1) = 0.95 w - 0.1 sign(g1) = (0.85, -2.0, 0.575).
        let adamw = twoSteps(.adamw(beta1: 0.9, beta2: 0.999, epsilon: 1e-8), weightDecay: 0.5).0
        assertClose(adamw, [0.85, -2.0, 0.575], atol: 1e-6, rtol: 1e-6, "AdamW")
    }

    func testWeightDecayAppliesToWeightsOnly() {
        // Zero gradients everywhere: only decay can move anything, and only convolution and linear weights decay.
        let kinds: [OptimizerKind] = [.sgd(momentum: 0.9, nesterov: false), .sgd(momentum: 0.9, nesterov: true),
                                      .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8),
                                      .adamw(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)]
        for kind in kinds {
            let f = Fixture()
            let before = f.parameters.array
            Optimizer(kind, weightDecay: 0.5, layout: f.layout)
                .step(parameters: f.parameters, gradients: f.gradients, lr: 0.1)
            for spec in f.layout.parameters {
                let old = Array(before[spec.range]), new = f.get(spec.name)
                if spec.role.decays {
                    XCTAssertNotEqual(new, old, "\(kind): \(spec.name) should decay")
                } else {
                    XCTAssertEqual(new, old, "\(kind): \(spec.name) (\(spec.role)) must not decay")
                }
            }
            if case .sgd(_, false) = kind {
                // SGD: g' = 0.5 w, m = g', w1 = w - 0.1 * 0.5 w = 0.95 w for both weight tensors.
                assertClose(f.get("dense.weight"), [0.95, -1.9, 0.475], atol: 1e-6, rtol: 1e-6, "\(kind)")
                assertClose(f.get("conv.weight"), [1.9, -0.95], atol: 1e-6, rtol: 1e-6, "\(kind)")
            }
            if case .adamw = kind {
                // AdamW with zero gradient: m = v = 0, so only the shrink w (1 - 0.1 * 0.5) acts.
                assertClose(f.get("dense.weight"), [0.95, -1.9, 0.475], atol: 1e-6, rtol: 1e-6, "\(kind)")
                assertClose(f.get("conv.weight"), [1.9, -0.95], atol: 1e-6, rtol: 1e-6, "\(kind)")
            }
        }
        XCTAssertEqual(TensorRole.allDecaying, [.convolutionWeight, .linearWeight])
    }

    func testInactiveTensorsAreUntouched() {
        for kind in [OptimizerKind.sgd(momentum: 0.9, nesterov: true), .adamw(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)] {
            let f = Fixture()
            for spec in f.layout.parameters { f.set(spec.name, [Float](repeating: 0.5, count: spec.count), in: f.gradients) }
            let optimizer = Optimizer(kind, weightDecay: 0.1, layout: f.layout)
            let before = f.parameters.array
            let frozen: Set = ["dense.bias", "conv.weight"]
            optimizer.step(parameters: f.parameters, gradients: f.gradients, lr: 0.1) { !frozen.contains($0.name) }
            for (i, spec) in f.layout.parameters.enumerated() {
                let moments = Array(optimizer.moment1.array[spec.range]) + Array(optimizer.moment2.array[spec.range])
                if frozen.contains(spec.name) {
                    XCTAssertEqual(f.get(spec.name), Array(before[spec.range]), "\(kind): \(spec.name) values")
                    XCTAssertEqual(Set(moments), [0], "\(kind): \(spec.name) moments")
                    XCTAssertEqual(optimizer.steps[i], 0, "\(kind): \(spec.name) steps")
                } else {
                    XCTAssertNotEqual(f.get(spec.name), Array(before[spec.range]), "\(kind): \(spec.name) values")
                    XCTAssertEqual(optimizer.steps[i], 1, "\(kind): \(spec.name) steps")
                }
            }
        }
    }

    /// A tensor that starts training late (a backbone after its frozen epochs) gets Adam's first-step
    /// bias correction on its own first step, not the global step's.
    func testStepCountsArePerTensor() {
        let f = Fixture()
        let optimizer = Optimizer(.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8), layout: f.layout)
        f.setGradient("dense.weight", g1)
        for _ in 0..<2 {
            optimizer.step(parameters: f.parameters, gradients: f.gradients, lr: 0.1) { $0.name == "dense.weight" }
        }
        XCTAssertEqual(optimizer.steps, [2, 0, 0, 0, 0])
        f.setGradient("dense.bias", [0.3, -0.7])
        optimizer.step(parameters: f.parameters, gradients: f.gradients, lr: 0.1)
        XCTAssertEqual(optimizer.steps, [3, 1, 1, 1, 1])
        // Own first step: m / (1 - 0.9) = g, sqrt(v / (1 - 0.999)) = |g|, so b moves by 0.1 sign(g):
        // (0.25 - 0.1, -0.75 + 0.1). With the global t = 3 it would move by 0.1 * 0.369 / 0.578 = 0.064.
        assertClose(f.get("dense.bias"), [0.15, -0.65], atol: 1e-6, rtol: 1e-6)
    }

    func testClipGlobalNorm() {
        func fixture() -> Fixture {
            let f = Fixture()
            f.setGradient("dense.weight", [3, 4, 0])
            f.setGradient("dense.bias", [0, 12])
            return f
        }
        // Norm sqrt(9 + 16 + 144) = 13; clipping to 6.5 halves every gradient.
        var f = fixture()
        XCTAssertEqual(clipGlobalNorm(f.gradients, specs: f.layout.parameters, maxNorm: 6.5), 13, accuracy: 1e-5)
        assertClose(f.get("dense.weight", in: f.gradients), [1.5, 2, 0], atol: 1e-6, rtol: 1e-6)
        assertClose(f.get("dense.bias", in: f.gradients), [0, 6], atol: 1e-6, rtol: 1e-6)

        // Below the limit, or with clipping off (0), nothing changes; the norm is still reported.
        for limit: Float in [20, 0] {
            f = fixture()
            let before = f.gradients.array
            XCTAssertEqual(clipGlobalNorm(f.gradients, specs: f.layout.parameters, maxNorm: limit), 13, accuracy: 1e-5)
            XCTAssertEqual(f.gradients.array, before, "limit \(limit)")
        }

        // Only active tensors count and are scaled: norm 5, clipped to 2.5; the bias keeps its 12.
        f = fixture()
        let norm = clipGlobalNorm(f.gradients, specs: f.layout.parameters, maxNorm: 2.5) { $0.name != "dense.bias" }
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        assertClose(f.get("dense.weight", in: f.gradients), [1.5, 2, 0], atol: 1e-6, rtol: 1e-6)
        XCTAssertEqual(f.get("dense.bias", in: f.gradients), [0, 12])
    }
}

private extension TensorRole {
    static var allDecaying: [TensorRole] {
        [.convolutionWeight, .linearWeight, .bias, .normScale, .normShift, .runningMean, .runningVariance].filter(\.decays)
    }
}
