// An observer that does something once the run has done a given number of steps (start a worker
// mid-run, say), for the coordinator tests.
import Training

final class AfterStep: TrainingObserver {
    let step: Int, action: () -> Void
    init(_ step: Int, _ action: @escaping () -> Void) { self.step = step; self.action = action }
    func stepEnded(_ record: StepRecord, engine: TrainingEngine) throws { if record.stepsDone == step { action() } }
}
