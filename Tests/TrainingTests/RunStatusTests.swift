// The run status the operator's endpoint reads: the loss curve stays bounded by halving its
// resolution, and copies carry the server's clock.
import Foundation
import XCTest
@testable import Training

final class RunStatusTests: XCTestCase {
    func testLossCurveHalvesItsResolutionInsteadOfGrowing() {
        let status = RunStatus()
        for step in 1...10_000 { status.addLoss(step: step, loss: Double(step)) }
        let curve = status.current.lossCurve
        XCTAssertLessThan(curve.count, RunStatus.curveLimit)
        XCTAssertGreaterThan(curve.count, RunStatus.curveLimit / 4, "still fine enough to show the run")
        let steps = curve.map { Int($0[0]) }
        XCTAssertEqual(steps, steps.sorted(), "in step order")
        XCTAssertEqual(Set(zip(steps, steps.dropFirst()).map { $1 - $0 }).count, 1, "evenly spread: \(steps.prefix(5))")
        XCTAssertEqual(curve.last?[0], 10_000 - Double(10_000 % (steps[1] - steps[0])), "reaches the end of the run")
    }

    func testCopiesCarryTheServersClock() {
        let status = RunStatus()
        status.update { $0.step = 3 }
        let a = status.current
        usleep(20_000)
        let b = status.current
        XCTAssertEqual(a.step, 3)
        XCTAssertGreaterThan(b.now, a.now)
        XCTAssertEqual(a.updated, b.updated, "reading changes nothing")
    }
}
