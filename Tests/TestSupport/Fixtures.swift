// Building blocks for layer tests: tensors from plain arrays, and parameters laid out in one flat
// buffer (with a mirroring gradient buffer) as the model lays them out.
import Compute

/// A tensor of `dims` in `layout` holding `values` (given in the plain layout).
public func makeTensor(_ dims: [Int], layout: Layout, element: ElementType = .f32, values: [Float]) throws -> Tensor {
    let t = try Tensor(dims, layout: layout, element: element)
    try t.load(plain: values)
    return t
}

/// `values` rounded to the nearest bf16 (ties to even), back in f32: what a bf16 tensor of them holds.
public func roundedToBFloat16(_ values: [Float]) -> [Float] {
    var bits = [UInt16](repeating: 0, count: values.count), out = [Float](repeating: 0, count: values.count)
    HalfPrecision.roundToBFloat16(values, &bits, count: values.count)
    HalfPrecision.widenBFloat16(bits, &out, count: values.count)
    return out
}

/// Parameters packed back to back in one `FlatBuffer`, gradients in a second one of the same size,
/// exactly like the model's parameter buffer. Slices start at arbitrary (unaligned) offsets.
public final class ParameterStore {
    public let values: FlatBuffer
    public let gradients: FlatBuffer
    public let counts: [Int]
    private let offsets: [Int]

    /// - Parameter counts: element count of each parameter, in order; `lead` floats of unused space
    ///   come first so that no slice is 64-byte aligned by accident.
    public init(counts: [Int], lead: Int = 3) {
        self.counts = counts
        var offsets: [Int] = [], next = lead
        for c in counts { offsets.append(next); next += c }
        self.offsets = offsets
        values = FlatBuffer(count: next)
        gradients = FlatBuffer(count: next)
    }

    public func slice(_ i: Int) -> ParameterSlice {
        ParameterSlice(values: values.base + offsets[i], gradients: gradients.base + offsets[i], count: counts[i])
    }
    public func valuePointer(_ i: Int) -> UnsafeMutablePointer<Float> { values.base + offsets[i] }
    public func load(_ i: Int, _ v: [Float]) {
        precondition(v.count == counts[i], "parameter \(i) has \(counts[i]) values, got \(v.count)")
        for j in 0..<v.count { values.base[offsets[i] + j] = v[j] }
    }
    public func values(_ i: Int) -> [Float] { Array(UnsafeBufferPointer(start: values.base + offsets[i], count: counts[i])) }
    public func gradients(_ i: Int) -> [Float] { Array(UnsafeBufferPointer(start: gradients.base + offsets[i], count: counts[i])) }
    /// Fills every gradient with `value` (to detect gradients that are not written, or are accumulated).
    public func fillGradients(_ value: Float) { gradients.base.update(repeating: value, count: gradients.count) }
}

/// Runs oneDNN on one thread. Test shapes are tiny, and with libgomp's spin-waiting two OpenMP threads
/// on a busy 2-core machine made the suite some 20x slower (90 s instead of 5 s); one thread also makes
/// every reduction deterministic. Call from each test class's `class func setUp()`.
public func useOneComputeThread() {
    Engine.setThreads(1)
}

/// Plain [N, C, H, W] values with a different mean (0.3 c - 0.5) and spread (1 + 0.2 c) in each
/// channel c, so that batch statistics matter.
public func perChannelInput(_ dims: [Int], seed: UInt64) -> [Float] {
    let plane = dims[2] * dims[3]
    let raw = randomArray(dims.reduce(1, *), seed: seed)
    return raw.indices.map { i in
        let c = Float((i / plane) % dims[1])
        return 0.3 * c - 0.5 + (1 + 0.2 * c) * raw[i]
    }
}
