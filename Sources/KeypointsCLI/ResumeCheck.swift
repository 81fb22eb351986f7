// `--resume RUN` takes the run's recorded configuration. A flag given on resume that would change
// the maths is refused, listing every difference; `--epochs` above the recorded count extends the
// run (the learning-rate schedule stays as recorded). Flags that cannot change the result
// (threads, loader threads, log interval, workers, checkpoint cadence, fault limits) just apply.
import ArgumentParser
import Foundation
import Model
import Training

enum ResumeCheck {
    /// The configuration to resume with, or a ValidationError listing what the given flags change.
    static func resolve(recorded: RunConfig, given: RunConfig, recordedData: [String: String], givenData: [String: String],
                        log: (String) -> Void) throws -> RunConfig {
        var comparable = given
        comparable.training.epochs = recorded.training.epochs
        comparable.training.schedule = recorded.training.schedule
        var differences = recorded.differences(from: comparable)
        for key in recordedData.keys.sorted() where recordedData[key] != givenData[key] {
            differences.append("\(key): recorded \(recordedData[key]!), given \(givenData[key]!)")
        }
        let extending = given.training.epochs > recorded.training.epochs
        if given.training.epochs < recorded.training.epochs {
            differences.append("--epochs: recorded \(recorded.training.epochs), given \(given.training.epochs) "
                               + "(to stop earlier, use --steps N; --epochs may only grow, to extend a run)")
        }
        guard differences.isEmpty else {
            throw ValidationError("--resume continues the run with its recorded configuration, and these flags would change it:\n  "
                + differences.joined(separator: "\n  ")
                + "\nDrop them to resume as recorded, or start a new run (another --out, or --overwrite).")
        }
        guard extending else { return recorded }
        var extended = recorded
        extended.training.epochs = given.training.epochs
        let tail: String
        switch recorded.training.schedule {
        case .cosine: tail = "so the extra epochs train at its floor"
        case .step: tail = "so its decay goes on every step as before"
        case .constant: tail = "so the rate does not change"
        }
        log("extending the run from \(recorded.training.epochs) to \(given.training.epochs) epochs; the learning-rate "
            + "schedule is kept as recorded (\(describe(recorded.training.schedule))), \(tail); a new run with --epochs "
            + "\(given.training.epochs) would spread the schedule over all of them")
        return extended
    }

    private static func describe(_ s: LearningRateSchedule) -> String {
        switch s {
        case .constant: return "constant"
        case .step(let every, let gamma): return "times \(gamma) every \(every) steps"
        case .cosine(let warmup, let total, let floor):
            return "\(warmup) warm-up steps, then cosine down to \(floor) of the base rate at step \(total)"
        }
    }
}
