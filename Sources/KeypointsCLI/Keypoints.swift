// The `keypoints` command: configuration only; each job is a subcommand.
import ArgumentParser

@main
struct Keypoints: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keypoints",
        abstract: "Train MobileNet to find keypoints in images (oneDNN on the CPU).",
        version: "0.3.0",
        subcommands: [
            Train.self, CoordinatorCommand.self, WorkerCommand.self,   // training
            Evaluate.self, Predict.self, Describe.self,                // using a model
            ImportWeights.self, Export.self,                           // other tools' formats
            Synth.self, AugmentPreview.self,                           // data
            Keygen.self, Checkpoints.self, Bench.self,                 // operations
        ])
}

/// Flags every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "oneDNN threads in this process (one worker process per core uses a machine best).")
    var threads: Int = 1

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }
}
