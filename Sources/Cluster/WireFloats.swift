// Parameter-sized float arrays (weights, gradients) as one bulk frame at the run's wire precision,
// and back. The layouts, all little-endian:
//
//     f32:  P values of 4 bytes
//     bf16: P values of 2 bytes (the top half of each f32, rounded to nearest, ties to even)
//     fp16: T f32 scales, one per parameter tensor in layout order, then P fp16 values, each the
//           tensor's value times its scale (a power of two), rounded to nearest, ties to even
//
// A frame may also hold a run of whole tensors alone (a gradient bucket, ParameterBuckets.swift), in
// the same layout over those tensors. Encoding is a pure function of the values, so every worker
// count sends the same bits.
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

    /// T: tensors in the layout.
    public var tensorCount: Int { tensors.count }

    /// Bytes of the frame of the whole buffer.
    public var frameBytes: Int { frameBytes(tensors: 0..<tensors.count) }

    /// The floats of tensors `t` (a range of tensor indices): their range in the flat buffer.
    func elements(_ t: Range<Int>) -> Range<Int> {
        t.isEmpty ? 0..<0 : tensors[t.lowerBound].lowerBound..<tensors[t.upperBound - 1].upperBound
    }

    /// Bytes of the frame of tensors `t` alone.
    public func frameBytes(tensors t: Range<Int>) -> Int {
        let n = elements(t).count
        return precision == .fp16 ? 4 * t.count + 2 * n : precision.bytesPerValue * n
    }

    /// `count` floats at `values` as one frame (a new buffer, handed to ZeroMQ without a further copy).
    public func frame(_ values: UnsafePointer<Float>) -> Frame { frame(values, tensors: 0..<tensors.count) }

    /// The frame of tensors `t` of the buffer at `values` (P floats): the layout above over those
    /// tensors alone (fp16: their scales, then their values). The bytes of a tensor do not depend
    /// on which range it travels in, so a buffer sent in pieces is the buffer sent whole.
    public func frame(_ values: UnsafePointer<Float>, tensors t: Range<Int>) -> Frame {
        let span = elements(t), first = values + span.lowerBound
        switch precision {
        case .f32:
            return .shared(SharedBytes(copying: first, count: 4 * span.count))
        case .bf16:
            return .shared(SharedBytes(count: frameBytes(tensors: t)) { raw in
                HalfPrecision.roundToBFloat16(first, raw.bindMemory(to: UInt16.self, capacity: span.count), count: span.count)
            })
        case .fp16:
            return .shared(SharedBytes(count: frameBytes(tensors: t)) { raw in
                let scales = raw.bindMemory(to: Float.self, capacity: t.count)
                let halves = (raw + 4 * t.count).bindMemory(to: UInt16.self, capacity: span.count)
                for (i, range) in tensors[t].enumerated() {
                    let scale = HalfPrecision.float16Scale(values + range.lowerBound, count: range.count)
                    scales[i] = scale
                    HalfPrecision.roundToFloat16(values + range.lowerBound, scale: scale, halves + (range.lowerBound - span.lowerBound),
                                                 count: range.count)
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
        var ok = false
        let out = [Float](unsafeUninitializedCapacity: count) { buffer, n in
            ok = count == 0 ? frame.count == 0 : decode(frame, tensors: 0..<tensors.count, into: buffer.baseAddress!)
            n = ok ? count : 0
        }
        return ok ? out : nil
    }

    /// Widens a frame of tensors `t` into their place in the buffer at `out` (P floats); false,
    /// writing nothing, when the frame's length is not theirs at this precision or an fp16 scale is
    /// not a positive power of two.
    public func decode(_ frame: Frame, tensors t: Range<Int>, into out: UnsafeMutablePointer<Float>) -> Bool {
        switch frame {
        case .bytes(let d): return d.withUnsafeBytes { decode($0, tensors: t, into: out) }
        case .shared(let s): return decode(UnsafeRawBufferPointer(start: s.pointer, count: s.count), tensors: t, into: out)
        }
    }

    private func decode(_ raw: UnsafeRawBufferPointer, tensors t: Range<Int>, into out: UnsafeMutablePointer<Float>) -> Bool {
        guard raw.count == frameBytes(tensors: t) else { return false }
        let span = elements(t)
        guard span.count > 0, let base = raw.baseAddress else { return span.isEmpty }
        // Foundation does not promise aligned storage (ZeroMQ's large messages are 8-byte aligned):
        // unaligned bytes are first copied to aligned memory.
        guard Int(bitPattern: base) % 4 == 0 else {
            let aligned = UnsafeMutableRawPointer.allocate(byteCount: raw.count, alignment: 64)
            defer { aligned.deallocate() }
            aligned.copyMemory(from: base, byteCount: raw.count)
            return decode(UnsafeRawBufferPointer(start: aligned, count: raw.count), tensors: t, into: out)
        }
        let first = out + span.lowerBound
        switch precision {
        case .f32:
            UnsafeMutableRawPointer(first).copyMemory(from: base, byteCount: 4 * span.count)
        case .bf16:
            HalfPrecision.widenBFloat16(base.assumingMemoryBound(to: UInt16.self), first, count: span.count)
        case .fp16:
            let scales = UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: t.count)
            guard scales.allSatisfy({ $0 > 0 && $0.isNormal && $0.significandBitPattern == 0 }) else { return false }
            let halves = (base + 4 * t.count).assumingMemoryBound(to: UInt16.self)
            for (i, range) in tensors[t].enumerated() {
                HalfPrecision.widenFloat16(halves + (range.lowerBound - span.lowerBound), scale: 1 / scales[i], out + range.lowerBound,
                                           count: range.count)
            }
        }
        return true
    }
}
