// The `keypoints` command: configuration only; each job is a subcommand. `main` expands
// `--config FILE` into flags before parsing.
import ArgumentParser
import Foundation

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
            Synth.self, AugmentPreview.self, CheckLabels.self,         // data
            Keygen.self, Checkpoints.self, Bench.self,                 // operations
        ])

    static func main() {
        let typed = Array(CommandLine.arguments.dropFirst())
        do {
            RunArguments.commandLine = try ConfigFile.expand(typed, root: Self.self)
        } catch {
            exit(withError: error)
        }
        do {
            var command = try parseAsRoot(RunArguments.commandLine)
            try command.run()
        } catch {
            // An error about a flag the config file set says which line of the file to fix.
            let message = fullMessage(for: error)
            for (name, origin) in ConfigFile.origins.sorted(by: { $0.key < $1.key }) where message.contains("--\(name)") {
                FileHandle.standardError.write(Data("note: --\(name) came from \(origin) (--config)\n".utf8))
            }
            exit(withError: error)
        }
    }
}

/// `--config FILE.yaml`, read (and removed) by `Keypoints.main` before the flags are parsed; declared
/// here so that `--help` lists it.
struct ConfigFileOption: ParsableArguments {
    @Option(help: "A YAML file of flags: keys are the long flag names (lr: 0.001, overwrite: true); flags on the command line win. RUN/config.yaml replays a run.")
    var config: String?
}

/// Flags every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "oneDNN threads in this process (one worker process per core uses a machine best).")
    var threads: Int = 1

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }
}
