// One contiguous, aligned Float buffer: the home of all parameters, all gradients, or all BN statistics.
#if canImport(Glibc)
import Glibc
#endif

/// A 64-byte aligned, zero-initialised buffer of `count` floats, freed in `deinit`.
/// Layers hold views (offset, count) into it; see ``ParameterSlice``.
public final class FlatBuffer: @unchecked Sendable {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, 64, max(count, 16) * MemoryLayout<Float>.stride) == 0, let p else {
            fatalError("out of memory allocating \(count) floats")
        }
        base = p.bindMemory(to: Float.self, capacity: max(count, 16))
        base.initialize(repeating: 0, count: max(count, 16))
    }

    deinit { free(base) }

    public subscript(i: Int) -> Float {
        get { base[i] }
        set { base[i] = newValue }
    }

    /// The whole buffer as a mutable buffer pointer.
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }

    /// Sets every element to zero.
    public func zero() { base.update(repeating: 0, count: count) }

    /// The values as an array (copies).
    public var array: [Float] { Array(buffer) }

    /// Replaces the values (counts must match).
    public func load(_ values: [Float]) {
        precondition(values.count == count, "expected \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: count) }
    }
}

/// A named view into the flat parameter buffer and the matching view into the gradient buffer.
/// Values and gradients use the same plain layout (documented per layer).
public struct ParameterSlice {
    public let values: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    public let count: Int

    public init(values: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, count: Int) {
        self.values = values
        self.gradients = gradients
        self.count = count
    }
}
