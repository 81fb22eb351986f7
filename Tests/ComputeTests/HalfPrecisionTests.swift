// bf16 and fp16 rounding against values worked out by hand and against the Float16 type: ties go to
// even, NaN and infinity survive, and the fp16 scale keeps tiny gradients from flushing to zero.
import Compute
import XCTest

final class HalfPrecisionTests: XCTestCase {
    func testBFloat16RoundsToNearestWithTiesToEven() {
        XCTAssertEqual(HalfPrecision.bfloat16Bits(1.0), 0x3F80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(-2.0), 0xC000)
        // 1 + 2^-8 lies half way between 1 (even) and 1 + 2^-7 (odd): it goes to 1.
        XCTAssertEqual(HalfPrecision.bfloat16Bits(1 + 0x1p-8), 0x3F80)
        // 1 + 3 * 2^-8 lies half way between 1 + 2^-7 (odd) and 1 + 2^-6 (even): it goes up.
        XCTAssertEqual(HalfPrecision.bfloat16Bits(1 + 3 * 0x1p-8), 0x3F82)
        // Just above half way rounds up, just below rounds down.
        XCTAssertEqual(HalfPrecision.bfloat16Bits(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(Float(bitPattern: 0x3F80_7FFF)), 0x3F80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(.infinity), 0x7F80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(-.infinity), 0xFF80)
        XCTAssertTrue(HalfPrecision.float(bfloat16: HalfPrecision.bfloat16Bits(.nan)).isNaN)
        // A NaN whose payload sits in the low half only would become infinity if merely truncated.
        XCTAssertTrue(HalfPrecision.float(bfloat16: HalfPrecision.bfloat16Bits(Float(bitPattern: 0x7F80_0001))).isNaN)
        XCTAssertEqual(HalfPrecision.float(bfloat16: HalfPrecision.bfloat16Bits(.greatestFiniteMagnitude)), .infinity)
    }

    func testBFloat16RelativeErrorIsAtMostHalfAnUnitInTheLastPlace() {
        var rng = SplitMix64(seed: 1)
        let values = (0..<10_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x7F7F_FFFF) }
        var bits = [UInt16](repeating: 0, count: values.count), back = [Float](repeating: 0, count: values.count)
        HalfPrecision.roundToBFloat16(values, &bits, count: values.count)
        HalfPrecision.widenBFloat16(bits, &back, count: values.count)
        for (x, y) in zip(values, back) where x.isNormal && y.isFinite {
            XCTAssertLessThanOrEqual(abs(y - x), abs(x) * 0x1p-8, "\(x) -> \(y)")
        }
    }

    func testFloat16ScaleKeepsTinyGradientsAndUndoesExactly() {
        // Gradients of 1e-9..1e-7: plain fp16 flushes them all to zero (its smallest is 6e-8 subnormal).
        let values: [Float] = [1e-9, -3e-8, 7e-8, 1.2e-7, 0, -1e-7]
        XCTAssertEqual(Float(Float16(values[0])), 0, "the premise: fp16 alone loses these")
        let scale = HalfPrecision.float16Scale(values, count: values.count)
        XCTAssertEqual(scale.significandBitPattern, 0, "the scale is a power of two")
        XCTAssertLessThan(1.2e-7 * scale, 32768)
        XCTAssertGreaterThanOrEqual(1.2e-7 * scale, 16384)
        var bits = [UInt16](repeating: 0, count: values.count), back = [Float](repeating: 0, count: values.count)
        HalfPrecision.roundToFloat16(values, scale: scale, &bits, count: values.count)
        HalfPrecision.widenFloat16(bits, scale: 1 / scale, &back, count: values.count)
        for (x, y) in zip(values, back) {
            XCTAssertLessThanOrEqual(abs(y - x), 1.2e-7 * 0x1p-11 + 1e-30, "\(x) -> \(y)")
        }
        // The same bits as Float16's own conversion of the scaled value (ties to even).
        for (x, b) in zip(values, bits) { XCTAssertEqual(b, Float16(x * scale).bitPattern) }
    }

    func testFloat16ScaleOfZerosAndNonFiniteValues() {
        XCTAssertEqual(HalfPrecision.float16Scale([0, 0, -0], count: 3), 1)
        // Infinity and NaN are ignored when picking the scale, and stay what they are (a diverged step).
        let values: [Float] = [.infinity, .nan, 3]
        let scale = HalfPrecision.float16Scale(values, count: 3)
        XCTAssertEqual(scale, 0x1p13)
        var bits = [UInt16](repeating: 0, count: 3), back = [Float](repeating: 0, count: 3)
        HalfPrecision.roundToFloat16(values, scale: scale, &bits, count: 3)
        HalfPrecision.widenFloat16(bits, scale: 1 / scale, &back, count: 3)
        XCTAssertEqual(back[0], .infinity)
        XCTAssertTrue(back[1].isNaN)
        XCTAssertEqual(back[2], 3)
        // A tensor of huge values is scaled down, not overflowed.
        XCTAssertEqual(HalfPrecision.float16Scale([1e30], count: 1), Float(sign: .plus, exponent: 14 - 99, significand: 1))
    }
}
