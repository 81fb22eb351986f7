// What `train` and `coordinator` share: reading the data, building the model and run
// configuration, resuming, and running the loop locally or with workers.
import ArgumentParser
import Cluster
import Compute
import Data
import Foundation
import Model

struct TrainingSetupOptions: ParsableArguments {
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var augment: AugmentOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var training: TrainingOptions
    @OptionGroup var microBatch: MicroBatchOptions
    @OptionGroup var checkpoints: CheckpointOptions
    @OptionGroup var faults: FaultOptions
    @Option(help: "Folder to save the trained model in (model.safetensors + model.json).")
    var out: String?
    @Option(name: .customLong("log-every"), help: "Print a progress line every N steps (0 = only per epoch).")
    var logEvery: Int = 10
    @Option(name: .customLong("metrics-log"), help: "Append one JSON line per step here (default: CHECKPOINT_DIR/metrics.jsonl).")
    var metricsLog: String?
}

final class TrainingSession {
    let setup: TrainingSetupOptions
    let run: TrainingRun
    let trainer: Trainer
    let config: RunConfig
    let policy: CheckpointPolicy?

    init(_ setup: TrainingSetupOptions) throws {
        self.setup = setup
        Engine.setThreads(setup.compute.threads)
        let (train, validation, fingerprint) = try Self.loadDatasets(setup)
        let names = train.description.keypointNames
        let modelConfig = try setup.model.config(keypoints: names.count, names: names)
        let training = try setup.training.config(inputSize: modelConfig.backbone.inputSize, samples: train.count)
        let augmentation = setup.augment.config
        try augmentation.validate(for: train.description, labels: setup.dataOptions.data)
        config = RunConfig(model: modelConfig, training: training, description: train.description,
                           resize: setup.dataOptions.resize, augmentation: augmentation, microBatch: setup.microBatch.microBatch)
        let network = try KeypointNetwork(modelConfig)
        setup.model.initializer.initialise(network.store, seed: training.seed)
        if let from = setup.model.initFrom {
            let manifest = try SavedModel.loadBackbone(into: network, from: URL(fileURLWithPath: from))
            let origin = manifest.training["file"].map { " (\($0))" } ?? ""
            print("backbone weights and BN statistics from \(from)\(origin); head initialised fresh (\(setup.model.initializer))")
            if training.freezeBackboneEpochs == 0 {
                print("note: the backbone is fine-tuned from the first step; --freeze-backbone-epochs N trains the head alone first")
            }
        }
        trainer = Trainer(network: network, config: training)
        trainer.microBatchesPerStep = (training.batchSize + setup.microBatch.microBatch - 1) / setup.microBatch.microBatch
        // Imported BN statistics are kept: new batches fold in at momentum 0.99 from the first update.
        if setup.model.initFrom != nil { trainer.priorStatisticsUpdates = 100 }
        policy = setup.checkpoints.policy(fingerprint: fingerprint)
        if setup.checkpoints.resume, let policy {
            if let contents = Checkpoint.newestValid(in: policy.directory, log: { print($0) }) {
                try Checkpoint.restore(contents, into: trainer, config: config, fingerprint: fingerprint)
                print("resumed from \(contents.url.path) at step \(contents.step)")
            } else {
                print("no checkpoint in \(policy.directory.path) yet: starting from the beginning")
            }
        }
        run = TrainingRun(train: train, validation: validation, trainer: trainer, config: config,
                          loaderThreads: setup.dataOptions.loaderThreads)
        run.logEvery = setup.logEvery
        // Beside the checkpoints (or the saved model): the best model so far and the learning curves.
        if let folder = setup.checkpoints.checkpointDir ?? setup.out {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            run.curvesFile = URL(fileURLWithPath: folder).appendingPathComponent("curves.svg")
        }
        if let dir = setup.checkpoints.checkpointDir { run.bestModel = URL(fileURLWithPath: dir).appendingPathComponent("best") }
        run.badSteps = BadStepGuard(limit: setup.faults.maxBadSteps)
        if let path = setup.metricsLog ?? setup.checkpoints.checkpointDir.map({ "\($0)/metrics.jsonl" }) {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw ValidationError("cannot write the metrics log \(path)")
            }
            handle.seekToEndOfFile()
            run.metricsLog = handle
        }
        print("training MobileNetV1 alpha \(modelConfig.backbone.alpha) at \(modelConfig.backbone.inputSize)px, "
              + "K=\(names.count), \(network.store.layout.parameterCount) parameters, \(train.count) train / "
              + "\(validation.count) val images, batch \(training.batchSize) in micro-batches of \(config.microBatch), "
              + "\(run.totalSteps) steps")
    }

    /// Reads and checks the labels and images; bad input stops here, before any training.
    /// Also returns the training labels' fingerprint (labels plus image sizes and times).
    private static func loadDatasets(_ setup: TrainingSetupOptions) throws -> (KeypointDataset, KeypointDataset, String) {
        let d = setup.dataOptions
        let all = try KeypointDataset.load(labels: d.data, description: d.describe, skipBad: d.skipBad)
        report(all.skipped)
        let fingerprint = try DatasetFingerprint.compute(all.labels, descriptionFile: d.describe)
        if let val = d.val {
            let validation = try KeypointDataset.load(labels: val, description: d.describe, skipBad: d.skipBad)
            report(validation.skipped)
            try LabelReader.checkCompatible(all.labels, validation.labels)
            return (all, validation, fingerprint)
        }
        let (trainRecords, valRecords) = DatasetSplit.split(all.labels, validationFraction: d.valFraction, seed: setup.training.seed)
        let position = Dictionary(all.labels.records.enumerated().map { ($1.imagePath, $0) }, uniquingKeysWith: { a, _ in a })
        let trainIdx = trainRecords.compactMap { position[$0.imagePath] }, valIdx = valRecords.compactMap { position[$0.imagePath] }
        guard !trainIdx.isEmpty, !valIdx.isEmpty else {
            throw DataError(d.data, "\(all.count) samples cannot be split into training and validation "
                + "with --val-fraction \(d.valFraction); add samples or pass --val")
        }
        return (all.subset(trainIdx), all.subset(valIdx), fingerprint)
    }

    private static func report(_ skipped: [DataError]) {
        guard !skipped.isEmpty else { return }
        print("skipped \(skipped.count) bad sample(s) (--skip-bad):")
        for e in skipped.prefix(20) { print("  \(e.description)") }
        if skipped.count > 20 { print("  ... and \(skipped.count - 20) more") }
    }

    private func save(_ policy: CheckpointPolicy) throws -> String {
        try Checkpoint.write(trainer: trainer, config: config, fingerprint: policy.fingerprint, to: policy.directory, keep: policy.keep)
    }

    /// Stops at a step boundary after SIGINT/SIGTERM, with a checkpoint when a folder is set.
    private func stopIfAsked() throws {
        guard StopRequest.shared.isRequested else { return }
        if let policy { print("stopping on signal; checkpoint: \(try save(policy))") } else { print("stopping on signal") }
        throw ExitCode(130)
    }

    func runLocal() throws {
        try checkpointingBadSteps {
            try run.runLocal(stopAfterStep: setup.checkpoints.steps, checkpoints: policy, save: save, afterEach: stopIfAsked)
        }
    }

    /// When training gives up on NaN/Inf steps, the weights are still the last good ones: keep them.
    private func checkpointingBadSteps(_ body: () throws -> Void) throws {
        do { try body() } catch let e as BadStepGuard.TooManyBadSteps {
            if let policy { print("checkpoint of the last good weights: \(try save(policy))") }
            throw e
        }
    }

    /// Runs a coordinator on `bind`, starting `localWorkers` worker processes on this machine.
    func runDistributed(bind: String, localWorkers: Int, minWorkers: Int, curve: (CurveKeyPair, [String])? = nil) throws {
        let context = ZMQContext()
        let zap = try curve.map { try ZAPHandler(context: context, authorizedKeys: $0.1, log: { print("[coordinator] \($0)") }) }
        defer { zap?.stop() }
        // The largest legitimate message to the coordinator is a gradient (parameters + BN statistics).
        let store = trainer.network.store
        let transport = try ZMQCoordinatorTransport(context: context, bind: bind,
                                                    heartbeat: (setup.faults.heartbeatInterval, setup.faults.heartbeatTimeout),
                                                    curve: curve?.0,
                                                    maxMessageSize: (store.parameters.count + store.statistics.count) * 4 + 4 << 20)
        if let curve { print("[coordinator] CURVE on: \(curve.1.count) authorized worker key(s)") }
        var options = Coordinator.Options()
        options.minWorkers = minWorkers
        options.stopAfterStep = setup.checkpoints.steps
        options.stepDeadline = setup.faults.stepDeadline
        options.maxBadSteps = setup.faults.maxBadSteps
        let coordinator = Coordinator(transport: transport, dataset: run.train, config: config, trainer: trainer,
                                      options: options, log: { print("[coordinator] \($0)") })
        let last = min(run.totalSteps, setup.checkpoints.steps ?? run.totalSteps)
        coordinator.afterStep = { [self] step, epoch, report, timing in
            try run.afterStep(step: step, epoch: epoch, report: report, timing: timing, checkpoints: policy, last: last,
                              save: save)
            try stopIfAsked()
        }
        print("[coordinator] listening on \(transport.endpoint)")
        StopRequest.shared.install()
        coordinator.stopRequested = { StopRequest.shared.isRequested }
        let children = try LocalWorkers(count: localWorkers, endpoint: transport.endpoint, threads: setup.compute.threads)
        defer { children.stop() }
        try checkpointingBadSteps {
            do { try coordinator.run() } catch is Coordinator.Stopped { try stopIfAsked() }
        }
        children.wait()
    }

    func finish() throws {
        let (loss, metrics) = try run.finish()
        if let out = setup.out {
            try SavedModel.save(trainer.network, to: URL(fileURLWithPath: out), training: [
                "steps": "\(trainer.step)", "val_loss": "\(loss)", "val_nme": "\(metrics.nme)",
                "resize": config.resize.rawValue,
            ])
            print("saved model to \(out)")
        }
    }
}

/// Worker processes started by `train --workers N`: real processes running `keypoints worker`,
/// their output going to ours (each line prefixed with the worker's name).
final class LocalWorkers {
    private var processes: [Process] = []

    init(count: Int, endpoint: String, threads: Int) throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        for i in 0..<count {
            let p = Process()
            p.executableURL = executable
            p.arguments = ["worker", "--connect", endpoint, "--threads", "\(threads)", "--name", "worker-\(i + 1)"]
            try p.run()
            processes.append(p)
        }
    }

    /// Waits (up to 10 s) for the workers to leave after the coordinator's bye.
    func wait() {
        let deadline = Date().addingTimeInterval(10)
        while processes.contains(where: \.isRunning) && Date() < deadline { usleep(50_000) }
    }

    func stop() {
        for p in processes where p.isRunning { p.terminate() }
    }
}
