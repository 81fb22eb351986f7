// Central finite differences for checking hand-written backward passes: the gradient of the scalar
// loss L = sum_i y_i * r_i (fixed random r, so dL/dy = r) accumulated in Double.
import Compute

/// L = sum_i y_i * r_i, accumulated in Double.
public func weightedSum(_ y: [Float], _ r: [Float]) -> Double {
    precondition(y.count == r.count, "output has \(y.count) values, weights \(r.count)")
    var sum = 0.0
    for i in 0..<y.count { sum += Double(y[i]) * Double(r[i]) }
    return sum
}

/// dL/dv_i ~ (L(v_i + eps) - L(v_i - eps)) / (2 eps) for each of `count` values read with `get` and
/// written with `set` (restored afterwards); `output` evaluates the layer and returns y in plain layout.
/// The step actually taken is measured in Float, so rounding of v +/- eps does not bias the quotient.
public func finiteDifferenceGradient(
    count: Int, eps: Float, r: [Float],
    get: (Int) -> Float, set: (Int, Float) throws -> Void, output: () throws -> [Float]
) rethrows -> [Double] {
    var gradient = [Double](repeating: 0, count: count)
    for i in 0..<count {
        let v = get(i), up = v + eps, down = v - eps
        try set(i, up)
        let lossUp = weightedSum(try output(), r)
        try set(i, down)
        let lossDown = weightedSum(try output(), r)
        try set(i, v)
        gradient[i] = (lossUp - lossDown) / (Double(up) - Double(down))
    }
    return gradient
}

/// Finite-difference gradient of L with respect to an input array: `output` gets the perturbed input.
public func finiteDifferenceGradient(
    of input: [Float], eps: Float, r: [Float], output: ([Float]) throws -> [Float]
) rethrows -> [Double] {
    var x = input
    return try finiteDifferenceGradient(count: x.count, eps: eps, r: r,
                                        get: { x[$0] }, set: { x[$0] = $1 }, output: { try output(x) })
}

/// Finite-difference gradient of L with respect to `count` values a layer reads in place (a parameter
/// slice); each value is restored after its two evaluations.
public func finiteDifferenceGradient(
    of values: UnsafeMutablePointer<Float>, count: Int, eps: Float, r: [Float], output: () throws -> [Float]
) rethrows -> [Double] {
    try finiteDifferenceGradient(count: count, eps: eps, r: r,
                                 get: { values[$0] }, set: { values[$0] = $1 }, output: output)
}

/// Finite-difference gradient of L with respect to a layer's input: each evaluation loads the perturbed
/// values into a fresh tensor of `dims` and `layout` and runs `layer.forward` in `mode`.
public func inputGradientByFiniteDifferences(
    _ layer: Layer, input: [Float], dims: [Int], layout: Layout, mode: Mode, eps: Float, r: [Float]
) throws -> [Double] {
    try finiteDifferenceGradient(of: input, eps: eps, r: r) { x in
        try layer.forward(try makeTensor(dims, layout: layout, values: x), mode: mode).plain()
    }
}
