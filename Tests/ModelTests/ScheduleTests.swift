// Learning-rate schedules: constant, step decay, and linear warm-up followed by cosine decay, at the
// steps where they change.
import XCTest
import Model
import TestSupport

final class ScheduleTests: XCTestCase {
    private func factors(_ schedule: LearningRateSchedule, _ steps: [Int]) -> [Float] {
        steps.map { schedule.factor(at: $0) }
    }

    func testConstant() {
        XCTAssertEqual(factors(.constant, [0, 1, 1000, 1_000_000]), [1, 1, 1, 1])
    }

    func testStep() {
        // gamma^(step / every): 1 for steps 0...9, 0.5 for 10...19, 0.25 from 20, 0.125 from 30.
        assertClose(factors(.step(every: 10, gamma: 0.5), [0, 9, 10, 19, 20, 35]),
                    [1, 1, 0.5, 0.5, 0.25, 0.125], atol: 0, rtol: 1e-6)
    }

    func testCosineWithWarmUp() {
        // Warm-up 10 steps: (step + 1) / 10, reaching 1 at step 9. Then from step 10 to 110 the factor
        // is floor + (1 - floor) * (1 + cos(pi * (step - 10) / 100)) / 2 with floor 0.1:
        // step 10 -> 1; step 35 -> 0.1 + 0.9 * (1 + cos(pi / 4)) / 2 = 0.8681981; step 60 -> 0.55;
        // step 85 -> 0.1 + 0.9 * (1 - cos(pi / 4)) / 2 = 0.2318019; step 110 and after -> 0.1.
        let cosine = LearningRateSchedule.cosine(warmup: 10, total: 110, floor: 0.1)
        assertClose(factors(cosine, [0, 4, 9, 10, 35, 60, 85, 110, 500]),
                    [0.1, 0.5, 1, 1, 0.8681981, 0.55, 0.2318019, 0.1, 0.1], atol: 1e-6, rtol: 1e-5)
        // Non-increasing after warm-up.
        let decay = factors(cosine, Array(10...120))
        XCTAssertTrue(zip(decay, decay.dropFirst()).allSatisfy { $0 >= $1 }, "cosine must not increase after warm-up")
        // No warm-up: starts at 1.
        let noWarmup = LearningRateSchedule.cosine(warmup: 0, total: 100, floor: 0)
        assertClose(factors(noWarmup, [0, 50, 100]), [1, 0.5, 0], atol: 1e-6, rtol: 1e-5)
    }
}
