// The flags `train` and `coordinator` share: where the run folder is, and everything that shapes
// the run (data, model, optimizer, augmentation, micro-batches, checkpoints, faults).
import ArgumentParser
import Foundation
import Training

struct TrainingSetupOptions: ParsableArguments {
    @OptionGroup var configFile: ConfigFileOption
    @OptionGroup var location: RunLocationOptions
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var augment: AugmentOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var training: TrainingOptions
    @OptionGroup var microBatch: MicroBatchOptions
    @OptionGroup var checkpoints: CheckpointOptions
    @OptionGroup var faults: FaultOptions
    @OptionGroup var logging: LogOptions
    @OptionGroup var monitor: MonitorOptions
    @Option(name: .customLong("log-every"), help: "Print a progress line every N steps (0 = only per epoch).")
    var logEvery: Int = 10
    @Option(help: "Stop when the validation NME has not improved for N epochs; the best model (RUN/best/) is the result (0 = train every epoch).")
    var patience: Int = 0
    @Option(name: .customLong("val-every"), help: "Validate (and pick the best model) every N epochs, and after the last.")
    var valEvery: Int = 1
    @Option(name: .customLong("tensorboard-every"), help: "Write the training scalars to the run's TensorBoard log every N steps (0 = epoch scalars only).")
    var tensorboardEvery: Int = 1
    @Option(name: .customLong("tensorboard-images"), help: "Validation images drawn with predicted and true keypoints in the TensorBoard log each epoch (0 = none).")
    var tensorboardImages: Int = 4
    @Option(help: "Validation NME/PCK normaliser, which also picks the best model: diagonal, bbox, or pair:A,B (1-based numbers or keypoint names, e.g. pair:left_eye,right_eye for inter-ocular).")
    var normalize: String = "diagonal"

    func validate() throws {
        if location.resume == nil {
            guard dataOptions.data != nil else { throw ValidationError("--data is needed (or --resume RUN to continue a run)") }
        }
        guard logEvery >= 0 else { throw ValidationError("--log-every must be 0 or more") }
        guard patience >= 0 else { throw ValidationError("--patience must be 0 (off) or more epochs") }
        guard valEvery >= 1 else { throw ValidationError("--val-every must be at least 1 epoch") }
        guard tensorboardEvery >= 0, tensorboardImages >= 0 else {
            throw ValidationError("--tensorboard-every and --tensorboard-images must be 0 or more")
        }
    }
}

/// Where the run lives, and whether it starts, continues or replaces one.
struct RunLocationOptions: ParsableArguments {
    @Option(help: "The run folder: last/ and best/ models, checkpoints/, metrics.jsonl, curves.svg, config.json, split/ (default: runs/train, or runs/train2, runs/train3, ... if taken).")
    var out: String?
    @Option(help: "Continue the run in this folder from its newest valid checkpoint, with its recorded configuration.")
    var resume: String?
    @Flag(help: "Start afresh in an --out folder that holds a run, deleting that run's files first.")
    var overwrite = false
    @Flag(name: .customLong("auto-resume"),
          help: "With --out RUN: continue the run in RUN if it holds one, else start it (for launchers that restart jobs).")
    var autoResume = false
    @Option(name: .customLong("checkpoint-dir"), help: .hidden) var checkpointDir: String?
    @Option(name: .customLong("metrics-log"), help: .hidden) var metricsLog: String?

    func validate() throws {
        if checkpointDir != nil {
            throw ValidationError("--checkpoint-dir is gone: --out RUN holds the checkpoints (RUN/checkpoints), and "
                                  + "--resume RUN continues the run")
        }
        if metricsLog != nil { throw ValidationError("--metrics-log is gone: the metrics log is RUN/metrics.jsonl of --out RUN") }
        if resume != nil && out != nil {
            throw ValidationError("--resume RUN continues in RUN: drop --out (or use --out alone for a new run)")
        }
        if resume != nil && overwrite { throw ValidationError("--overwrite starts a new run: it cannot go with --resume") }
        if autoResume && (out == nil || overwrite) {
            throw ValidationError("--auto-resume needs --out RUN (and no --overwrite): it continues RUN or starts it")
        }
    }

    /// The run to continue: `--resume RUN`, or with `--auto-resume` the `--out` folder once it holds a run.
    var continuing: String? {
        if let resume { return resume }
        guard autoResume, let out, RunFolder.holdsRun(URL(fileURLWithPath: out)) else { return nil }
        return out
    }
}

/// The setup flags out of a whole command line (the command's other flags left aside): how a
/// recorded command line is read back on resume.
struct RecordedSetup: ParsableArguments {
    @OptionGroup var setup: TrainingSetupOptions
    @Argument(parsing: .allUnrecognized) var other: [String] = []
}

/// The operator's endpoint: Prometheus metrics and the live status page.
struct MonitorOptions: ParsableArguments {
    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus metrics (/metrics) and a live status page (/) on this port (0: any free port, printed); off unless given.")
    var metricsPort: Int?
    @Option(name: .customLong("metrics-host"), help: "The address the metrics port binds to: loopback unless you mean to expose it (tunnel instead: ssh -L PORT:127.0.0.1:PORT HOST).")
    var metricsHost: String = "127.0.0.1"

    func validate() throws {
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0 to 65535") }
    }
}
