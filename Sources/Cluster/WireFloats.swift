// Parameter-sized float arrays (weights, gradients) as one bulk frame at the run's wire precision,
// and back. The layouts, all little-endian:
//
//     f32:  P values of 4 bytes
//     bf16: P values of 2 bytes (the top half of each f32, rounded to nearest, ties to even)
//     fp16: T f32 scales, one per parameter tensor in layout order, then P fp16 values, each the
//           tensor's value times its scale (a power of two), rounded to nearest, ties to even
//
// Encoding is a pure function of the values, so every worker count sends the same bits.
import Compute
import Foundation
import Model
import Training

/// The wire form of one parameter-layout buffer (P floats in T tensors).
public struct WireFloats: Sendable {
    public let precision: WirePrecision
    /// The tensors' ranges in the flat buffer, in layout order (fp16 scales one each).
    let tensors: [Range<Int>]
    /// P: floats in the buffer.
    public let count: Int

    public init(precision: WirePrecision, layout: ParameterLayout) {
        self.precision = precision
        tensors = layout.parameters.map(\.range)
        count = layout.parameterCount
    }

    /// Bytes of the frame.
    public var frameBytes: Int { precision == .fp16 ? 4 * tensors.count + 2 * count : precision.bytesPerValue * count }

    /// `count` floats at `values` as one frame (a new buffer, handed to ZeroMQ without a further copy).
    public func frame(_ values: UnsafePointer<Float>) -> Frame {
        switch precision {
        case .f32:
            return .shared(SharedBytes(copying: values, count: 4 * count))
        case .bf16:
            return .shared(SharedBytes(count: frameBytes) { raw in
                HalfPrecision.roundToBFloat16(values, raw.bindMemory(to: UInt16.self, capacity: count), count: count)
            })
        case .fp16:
            return .shared(SharedBytes(count: frameBytes) { raw in
                let scales = raw.bindMemory(to: Float.self, capacity: tensors.count)
                let halves = (raw + 4 * tensors.count).bindMemory(to: UInt16.self, capacity: count)
                for (t, range) in tensors.enumerated() {
                    let scale = HalfPrecision.float16Scale(values + range.lowerBound, count: range.count)
                    scales[t] = scale
                    HalfPrecision.roundToFloat16(values + range.lowerBound, scale: scale, halves + range.lowerBound, count: range.count)
                }
            })
        }
    }

    /// A frame of `values` (P floats).
    public func frame(_ values: [Float]) -> Frame {
        precondition(values.count == count, "a wire buffer of \(values.count) floats, expected \(count)")
        return values.withUnsafeBufferPointer { frame($0.baseAddress!) }
    }

    /// The P floats a frame holds, widened to f32; nil when its length is not `frameBytes` or an fp16
    /// scale is not a positive power of two (a frame no encoder of this precision wrote).
    public func floats(_ frame: Frame) -> [Float]? {
        switch frame {
        case .bytes(let d): return d.withUnsafeBytes { floats($0) }
        case .shared(let s): return floats(UnsafeRawBufferPointer(start: s.pointer, count: s.count))
        }
    }

    /// `floats(_:)` of the frame's bytes, copied once into the result (twice if they are not 4-byte aligned).
    private func floats(_ raw: UnsafeRawBufferPointer) -> [Float]? {
        guard raw.count == frameBytes else { return nil }
        guard count > 0, let base = raw.baseAddress else { return count == 0 ? [] : nil }
        // Foundation does not promise aligned storage (ZeroMQ's large messages are 8-byte aligned):
        // unaligned bytes are first copied to aligned memory.
        guard Int(bitPattern: base) % 4 == 0 else {
            let aligned = UnsafeMutableRawPointer.allocate(byteCount: raw.count, alignment: 64)
            defer { aligned.deallocate() }
            aligned.copyMemory(from: base, byteCount: raw.count)
            return floats(UnsafeRawBufferPointer(start: aligned, count: raw.count))
        }
        switch precision {
        case .f32:
            return [Float](unsafeUninitializedCapacity: count) { out, n in
                UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: base, byteCount: 4 * count)
                n = count
            }
        case .bf16:
            return [Float](unsafeUninitializedCapacity: count) { out, n in
                HalfPrecision.widenBFloat16(base.assumingMemoryBound(to: UInt16.self), out.baseAddress!, count: count)
                n = count
            }
        case .fp16:
            let scales = UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: tensors.count)
            guard scales.allSatisfy({ $0 > 0 && $0.isNormal && $0.significandBitPattern == 0 }) else { return nil }
            let halves = (base + 4 * tensors.count).assumingMemoryBound(to: UInt16.self)
            return [Float](unsafeUninitializedCapacity: count) { out, n in
                for (t, range) in tensors.enumerated() {
                    HalfPrecision.widenFloat16(halves + range.lowerBound, scale: 1 / scales[t], out.baseAddress! + range.lowerBound,
                                               count: range.count)
                }
                n = count
            }
        }
    }
}
