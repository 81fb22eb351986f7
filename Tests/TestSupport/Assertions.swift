// Tolerance checks for test results: |actual - expected| <= atol + rtol * |expected| (llm.c's
// validate_result), reporting the first differing elements and the largest difference on failure.
import XCTest

/// Describes where `actual` and `expected` differ by more than `atol + rtol * |expected|`, or nil when
/// every element is close. NaN or infinite values never count as close. With `shape`, indices are
/// printed as multi-indices (e.g. [n, c, h, w]); at most `listed` mismatches are listed.
public func mismatchReport<A: BinaryFloatingPoint, E: BinaryFloatingPoint>(
    _ actual: [A], _ expected: [E], atol: Double, rtol: Double, shape: [Int]? = nil, listed: Int = 5
) -> String? {
    guard actual.count == expected.count else {
        return "count mismatch: actual has \(actual.count) elements, expected \(expected.count)"
    }
    if let shape { precondition(shape.reduce(1, *) == actual.count, "shape \(shape) does not fit \(actual.count) elements") }
    var failures: [Int] = []
    var worst = (index: -1, difference: 0.0)
    for i in 0..<actual.count {
        let a = Double(actual[i]), e = Double(expected[i])
        let difference = (a.isFinite && e.isFinite) ? abs(a - e) : .infinity
        if difference > worst.difference || worst.index < 0 { worst = (i, difference) }
        if !(difference <= atol + rtol * abs(e)) { failures.append(i) }
    }
    guard !failures.isEmpty else { return nil }
    func name(_ i: Int) -> String {
        guard let shape else { return "[\(i)]" }
        var rest = i, index = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) { index[d] = rest % shape[d]; rest /= shape[d] }
        return "\(index)"
    }
    var lines = ["\(failures.count) of \(actual.count) elements differ (atol \(atol), rtol \(rtol)); first:"]
    for i in failures.prefix(listed) {
        lines.append("  \(name(i)): actual \(actual[i]), expected \(expected[i]), |diff| \(abs(Double(actual[i]) - Double(expected[i])))")
    }
    lines.append("max |diff| \(worst.difference) at \(name(worst.index)) "
        + "(actual \(actual[worst.index]), expected \(expected[worst.index]))")
    return lines.joined(separator: "\n")
}

/// Fails the calling test (at `file:line`) unless every element satisfies
/// |actual - expected| <= atol + rtol * |expected|; the message names the first differing elements.
public func assertClose<A: BinaryFloatingPoint, E: BinaryFloatingPoint>(
    _ actual: [A], _ expected: [E], atol: Double, rtol: Double, shape: [Int]? = nil,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    guard let report = mismatchReport(actual, expected, atol: atol, rtol: rtol, shape: shape) else { return }
    let context = message()
    XCTFail(context.isEmpty ? report : "\(context): \(report)", file: file, line: line)
}

/// Fails the calling test when the largest |value| is below `floor`: guards comparisons that would
/// pass trivially because both sides are (nearly) zero.
public func assertNotNegligible<T: BinaryFloatingPoint>(
    _ values: [T], floor: Double = 1e-2, _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    let largest = values.map { abs(Double($0)) }.max() ?? 0
    if !(largest >= floor) {
        let context = message()
        XCTFail("\(context.isEmpty ? "" : context + ": ")largest |value| is \(largest), below \(floor): "
            + "the comparison would prove nothing", file: file, line: line)
    }
}
