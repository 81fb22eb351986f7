// What `train` and `coordinator` do before the first step: read the data, resolve the run's
// configuration (from the flags for a new run, from the run folder on --resume), build the
// network, prepare the run folder, and wire the engine with its observers.
import ArgumentParser
import Compute
import Data
import Foundation
import Model
import Monitor
import Training
import ModelFiles

final class RunSetup {
    let options: TrainingSetupOptions
    let run: RunFolder
    let train: KeypointDataset
    let validation: KeypointDataset
    let config: RunConfig
    let fingerprint: String
    let trainer: Trainer
    let plan: StepPlan
    /// The history restored from the checkpoint (empty for a new run).
    let history: RunHistory
    /// True when this continues a run (`--resume`, `--auto-resume`), even from before its first checkpoint.
    let continues: Bool
    /// What the status page and the metrics endpoint show (with --metrics-port).
    let status: RunStatus?
    private let started = Date()

    /// - Parameter command: the subcommand (`train`, `coordinator`) whose flags these are.
    init(_ given: TrainingSetupOptions, command: String) throws {
        Console.shared.configure(given.logging)
        let tail = RunArguments.tail(after: command)
        var options = given
        var recorded: RunRecord?
        var existing: RunFolder?
        if let resume = given.location.continuing {
            existing = try RunFolder.existing(at: URL(fileURLWithPath: resume))
            let record = try existing!.record()
            options = try RecordedSetup.parse(record.arguments + tail).setup
            recorded = record
        }
        self.options = options
        continues = recorded != nil
        status = given.monitor.metricsPort == nil ? nil : RunStatus()
        Engine.setThreads(options.compute.threads)
        let labels: LabelSet
        (train, validation, labels) = try Self.loadDatasets(options)
        var hashes = existing.map { ImageHashCache.load($0.imageHashes) } ?? ImageHashCache()
        let hashing = Date()
        var fingerprint = try DatasetFingerprint.compute(labels, descriptionFile: options.dataOptions.describe, cache: &hashes)
        if hashes.hashed.images > 0 {
            say(String(format: "dataset fingerprint: read and hashed %d image(s) (%.1f MB) in %.1f s, %d from the cache",
                         hashes.hashed.images, Double(hashes.hashed.bytes) / 1e6, Date().timeIntervalSince(hashing), hashes.reused))
        }
        // A run recorded before fingerprints hashed image contents (v1: sizes and times) resumes
        // when the v1 fingerprint of these files matches it.
        if let recorded, recorded.fingerprint != fingerprint,
           try DatasetFingerprint.computeV1(labels, descriptionFile: options.dataOptions.describe) == recorded.fingerprint {
            say("note: this run was recorded with the v1 dataset fingerprint (image sizes and times); it still matches")
            fingerprint = recorded.fingerprint
        }
        self.fingerprint = fingerprint
        let flagged = try Self.runConfig(options, train: train, recordedPrecision: recorded?.config.computePrecision)
        // The status server binds before the run folder is made, so a port in use leaves no half-made run.
        if let status, let port = options.monitor.metricsPort {
            let host = options.monitor.metricsHost
            let bound = try StatusServer.start(status: status, host: host, port: port)
            let shown = host.contains(":") ? "[\(host)]" : host
            result("status page: http://\(shown):\(bound)/ (Prometheus metrics: http://\(shown):\(bound)/metrics)")
            if !["127.0.0.1", "::1", "localhost"].contains(host) {
                say("warning: the status page and metrics are reachable from other machines, without authentication (--metrics-host \(host))")
            }
        }
        // A new run's folder is made once its data and flags have passed every check.
        run = try existing ?? RunFolder.fresh(at: URL(fileURLWithPath: given.location.out ?? RunFolder.nextDefault().path),
                                              overwrite: given.location.overwrite)
        for stale in run.removeStaleTemporaries() { say("removed \(stale), left half-written by a run that was killed") }
        if hashes.hashed.images > 0 { run.keep(hashes, log: { say($0) }) }
        let checkpoint = recorded == nil ? nil : Checkpoint.newestValid(in: run.checkpoints, log: { say($0) })
        if let recorded {
            guard recorded.fingerprint == fingerprint else {
                throw TrainingError("\(run.config.path) was made for a different dataset (fingerprint \(recorded.fingerprint), "
                    + "this data \(fingerprint)): resume with the same labels and images, or train into another --out folder")
            }
            // The checkpoint's configuration is the run's (config.json may only have grown its epochs since).
            var runConfig = checkpoint?.config ?? recorded.config
            runConfig.training.epochs = max(runConfig.training.epochs, recorded.config.training.epochs)
            let original = try RecordedSetup.parse(recorded.arguments + ["--resume", run.url.path]).setup
            config = try ResumeCheck.resolve(recorded: runConfig, given: flagged,
                                             recordedData: RunArguments.dataSource(original), givenData: RunArguments.dataSource(options),
                                             log: { say($0) })
            if config != recorded.config {
                var record = recorded
                record.config = config
                try run.write(record)
                try Self.writeConfigFile(record, command: command, in: run)
            } else if !FileManager.default.fileExists(atPath: run.configFile.path) {
                try Self.writeConfigFile(recorded, command: command, in: run)
            }
        } else {
            config = flagged
        }
        // Training and validation compute on this machine (a coordinator validates), in the run's precision.
        if config.computePrecision == .bf16 && !Engine.hasBFloat16 {
            throw TrainingError("\(run.config.path) records bf16 convolutions, and this CPU has no AVX512-BF16 or AMX "
                                  + "(oneDNN runs \(Engine.instructionSet) kernels): resume on a machine that has them; "
                                  + "a run keeps its precision from start to end")
        }
        plan = StepPlan(samples: train.count, config: config)
        let network = try KeypointNetwork(config.model, precision: config.computePrecision)
        trainer = Trainer(network: network, config: config.training)
        var history = RunHistory()
        if let contents = checkpoint {
            try Checkpoint.restore(contents, into: trainer, config: config, fingerprint: fingerprint)
            history = contents.history
            say("resumed from \(contents.url.path) at step \(contents.step)")
        } else {
            if recorded != nil { say("no checkpoint in \(run.checkpoints.path) yet: starting from the beginning") }
            try Self.initialise(network, options, seed: config.training.seed)
        }
        self.history = history
        if recorded == nil {
            try run.writeSplit(train: train, validation: validation)
            let record = RunRecord(tool: "keypoints \(Keypoints.configuration.version)", commandLine: CommandLine.arguments,
                                   arguments: RunArguments.recorded(tail), config: config, fingerprint: fingerprint,
                                   trainImages: train.count, validationImages: validation.count)
            try run.write(record)
            try Self.writeConfigFile(record, command: command, in: run)
        }
        say("training MobileNetV1 alpha \(config.model.backbone.alpha) at \(config.model.backbone.inputSize)px, "
              + "\(config.model.head.kind.rawValue) head at feature stride \(config.model.backbone.outputStride), "
              + "K=\(config.model.keypoints), \(network.store.layout.parameterCount) parameters, \(train.count) train / "
              + "\(validation.count) val images, batch \(config.training.batchSize) in micro-batches of \(config.microBatch), "
              + "\(plan.totalSteps(epochs: config.training.epochs)) steps; run folder \(run.url.path)")
    }

    /// RUN/config.yaml: every setup flag of the run, defaults filled in, in the format `--config`
    /// reads, so that `train --config RUN/config.yaml --out NEW` replays it. config.json stays the
    /// record `--resume` reads.
    private static func writeConfigFile(_ record: RunRecord, command: String, in run: RunFolder) throws {
        guard let (commandFlags, _) = CommandFlags.of(Keypoints.self, words: [command]) else { return }
        let values = ConfigFile.values(of: record.arguments, flags: commandFlags)
        // A run extended on resume keeps its schedule; `epochs:` stays as started so that the file
        // replays the run's maths, and the header says how far it was extended.
        let setup = CommandFlags.of(TrainingSetupOptions.self)
        let started = Int(values["epochs"]?.last ?? setup.flag(named: "epochs")?.defaultValue ?? "") ?? record.config.training.epochs
        let extended = record.config.training.epochs != started
            ? ["It was extended to \(record.config.training.epochs) epochs on resume, keeping the schedule of \(started); a new run",
               "with epochs: \(record.config.training.epochs) would spread the schedule over all of them instead."] : []
        let leaving = Set(RunArguments.locationOptions.union(RunArguments.locationFlags).map { String($0.dropFirst(2)) })
        let text = try ConfigFile.render(setup, values: values, leaving: leaving, header: [
            "The configuration of the run in this folder: the flags of `keypoints \(command)` it was made with,",
            "defaults filled in (\(record.tool)). Replay it into a new run folder with",
            "  keypoints train --config \(run.configFile.path) --out NEW",
            "Flags on the command line win over this file. A key written commented out was not set: the tool",
            "chose (see --help). `--resume \(run.url.path)` reads config.json, not this file.",
        ] + extended)
        try run.writeConfigFile(text)
    }

    /// The run's configuration as the flags give it.
    /// - Parameter recordedPrecision: a resumed run's, which `--precision auto` keeps.
    private static func runConfig(_ options: TrainingSetupOptions, train: KeypointDataset,
                                  recordedPrecision: ComputePrecision?) throws -> RunConfig {
        let names = train.description.keypointNames
        let side = options.model.inputSize == nil ? train.medianLongSide() : nil
        let model = try options.model.config(keypoints: names.count, names: names, imageSide: side)
        if options.model.inputSize == nil {
            say("input size \(model.backbone.inputSize) px, from the images' median longer side"
                  + (side.map { " (\($0) px)" } ?? " (unreadable: the default)") + "; --input-size sets it")
        }
        let training = try options.training.config(inputSize: model.backbone.inputSize, samples: train.count, head: model.head.kind)
        if model.backbone.neck > 0 && training.freezeBackboneEpochs > 0 {
            throw ValidationError("--freeze-backbone-epochs would also freeze the neck (--neck \(model.backbone.neck)), which starts "
                                  + "from random weights; pass --neck 0 to freeze the pretrained backbone alone")
        }
        let augmentation = options.augment.config(for: train.description)
        if options.augment.flip == nil && augmentation.flipProbability > 0 {
            say("horizontal flips with probability \(augmentation.flipProbability), as the description declares flip pairs; --flip 0 turns them off")
        }
        try augmentation.validate(for: train.description, labels: options.dataOptions.data ?? train.labels.sourceFile)
        // Imported BN statistics are kept: new batches fold in at momentum 0.99 from the first update.
        let normalizer: Normalizer
        do { normalizer = try Normalizer(spec: options.normalize, keypointNames: names) } catch let e as ModelError {
            throw ValidationError("--normalize: \(e.description)")
        }
        return RunConfig(model: model, training: training, description: train.description, resize: options.dataOptions.resize,
                         augmentation: augmentation, microBatch: options.microBatch.microBatch,
                         statisticsPriorUpdates: options.model.initFrom == nil ? 0 : BatchNormStatistics.importedPrior,
                         normalize: normalizer.spec, wirePrecision: options.microBatch.wirePrecision,
                         computePrecision: options.microBatch.resolvedPrecision(recorded: recordedPrecision))
    }

    /// Fresh weights: the initialiser, then the `--init-from` backbone if any.
    private static func initialise(_ network: KeypointNetwork, _ options: TrainingSetupOptions, seed: UInt64) throws {
        options.model.initializer.initialise(network.store, seed: seed)
        guard let from = options.model.initFrom else { return }
        let manifest = try SavedModel.loadBackbone(into: network, from: URL(fileURLWithPath: from))
        let origin = manifest.training["file"].map { " (\($0))" } ?? ""
        say("backbone weights and BN statistics from \(from)\(origin); head initialised fresh (\(options.model.initializer))")
        if options.training.freezeBackboneEpochs == 0 {
            say("note: the backbone is fine-tuned from the first step; --freeze-backbone-epochs N trains the head alone first")
        }
    }

    /// Reads and checks the labels and images; bad input stops here, before any training.
    /// Returns the training and validation sets, and the `--data` labels (before any split).
    private static func loadDatasets(_ options: TrainingSetupOptions) throws -> (KeypointDataset, KeypointDataset, LabelSet) {
        let d = options.dataOptions
        let data = d.data!
        let all = try KeypointDataset.load(labels: data, description: d.describe, skipBad: d.skipBad)
        report(all.skipped)
        // A YOLO-pose dataset YAML names its own validation split.
        let yamlValidation = d.val == nil && YOLOPoseLabels.hasValidationSplit(data)
        if let val = d.val ?? (yamlValidation ? data : nil) {
            if yamlValidation { say("validation: the val: split of \(data)") }
            let validation = try KeypointDataset.load(labels: val, description: d.describe, skipBad: d.skipBad,
                                                      split: yamlValidation ? "val" : "train")
            report(validation.skipped)
            try LabelReader.checkCompatible(all.labels, validation.labels)
            return (all, validation, all.labels)
        }
        let (trainRecords, valRecords) = DatasetSplit.split(all.labels, validationFraction: d.valFraction, seed: options.training.seed)
        let position = Dictionary(all.labels.records.enumerated().map { ($1.imagePath, $0) }, uniquingKeysWith: { a, _ in a })
        let trainIdx = trainRecords.compactMap { position[$0.imagePath] }, valIdx = valRecords.compactMap { position[$0.imagePath] }
        guard !trainIdx.isEmpty, !valIdx.isEmpty else {
            throw DataError(data, "\(all.count) samples cannot be split into training and validation "
                + "with --val-fraction \(d.valFraction); add samples or pass --val")
        }
        return (all.subset(trainIdx), all.subset(valIdx), all.labels)
    }

    private static func report(_ skipped: [DataError]) {
        guard !skipped.isEmpty else { return }
        say("skipped \(skipped.count) bad sample(s) (--skip-bad):")
        for e in skipped.prefix(20) { say("  \(e.description)") }
        if skipped.count > 20 { say("  ... and \(skipped.count - 20) more") }
    }

    /// The engine over `source`, with validation and the run folder's observers.
    func engine(source: GradientSource, log: @escaping (String) -> Void = { say($0) }) throws -> TrainingEngine {
        let check = Validation(validation: validation, training: train, config: config, threads: options.dataOptions.loaderThreads,
                               log: log)
        let engine = TrainingEngine(config: config, trainer: trainer, plan: plan, source: source, validation: check,
                                    history: history, maxBadSteps: options.faults.maxBadSteps, log: log)
        engine.validateEvery = options.valEvery
        engine.earlyStopping = options.patience > 0 ? EarlyStopping(patience: options.patience, after: config.training.freezeBackboneEpochs) : nil
        let last = min(engine.totalSteps, options.checkpoints.steps ?? engine.totalSteps)
        let policy = CheckpointPolicy(directory: run.checkpoints, every: options.checkpoints.checkpointEvery,
                                      keep: options.checkpoints.keep, fingerprint: fingerprint)
        engine.observers = [
            ProgressLog(every: options.logEvery, firstStep: trainer.step, last: last, print: log,
                        bar: Console.shared.isTerminal ? { Console.shared.progress($0, force: $1) } : nil,
                        detail: Console.shared.shows(.debug) ? { Console.shared.logger.debug("\($0)") } : nil),
            try MetricsLog(url: run.metrics, resumedAt: continues ? trainer.step : nil),
            try TensorBoardLog(folder: run.url, every: options.tensorboardEvery, images: options.tensorboardImages,
                               resumedAt: continues ? trainer.step : nil),
            BestModel(folder: run.best, log: log),
            CurvesFile(url: run.curves),
            LearningCheck(epochs: config.training.epochs, log: log),
            Checkpointer(policy: policy, log: log),
        ]
        if let status {
            engine.observers.append(RunStatusObserver(status: status, engine: engine, lastStep: last, images: options.tensorboardImages))
        }
        engine.stopRequested = { StopRequest.shared.isRequested }
        return engine
    }

    /// The step the run stops at (`--steps`, or the end of the last epoch).
    var lastStep: Int? { options.checkpoints.steps }

    /// After the engine: the final validation and the last model (finished or stopped early), or
    /// the last model and exit code 130 (stopped on a signal). How the run ended goes into config.json.
    func finish(_ engine: TrainingEngine, _ end: RunEnd) throws {
        let facts = ["steps": "\(trainer.step)", "resize": config.resize.rawValue]
        guard end.completed else {
            try SavedModel.save(trainer.network, to: run.last, training: facts)
            result("saved the model at step \(trainer.step) to \(run.last.path)")
            try recordEnd("stopped", reason: "on a signal, at step \(trainer.step); --resume \(run.url.path) continues", engine)
            throw ExitCode(130)
        }
        var reason: String?
        if case .earlyStopped(let why) = end {
            reason = why
            result("stopping early after epoch \(engine.history.epochs.last?.epoch ?? 0) of \(config.training.epochs): \(why)")
        }
        let size = config.model.backbone.inputSize
        let (loss, metrics) = try engine.validation!.evaluate(trainer.network)
        result("final validation: loss \(loss), \(metrics.summary) (pixels of the \(size)x\(size) network input)")
        result("mean-shape baseline (predict the average training keypoints): \(engine.validation!.meanShape.summary)")
        result(String(format: "trained %d steps in %.1f s", trainer.step, Date().timeIntervalSince(started)))
        try SavedModel.save(trainer.network, to: run.last, training: facts.merging([
            "val_loss": "\(loss)", "val_nme": "\(metrics.nme)"]) { a, _ in a })
        result("saved model to \(run.last.path)" + (engine.history.bestEpoch.map { "; best (epoch \($0)) in \(run.best.path)" } ?? ""))
        if reason != nil, let best = engine.history.bestEpoch, let nme = engine.history.bestNME {
            result(String(format: "the run's result is the best model, %@ (epoch %d, validation NME %.4f); `evaluate --model %@` scores it",
                         run.best.path, best, nme, run.url.path))
        }
        try recordEnd(reason == nil ? "finished" : "early stop", reason: reason, engine)
    }

    /// Writes how this invocation ended into config.json (`ended`).
    private func recordEnd(_ how: String, reason: String?, _ engine: TrainingEngine) throws {
        var record = try run.record()
        record.ended = RunOutcome(how: how, reason: reason, step: trainer.step, epochs: engine.history.epochs.last?.epoch ?? 0,
                                  bestEpoch: engine.history.bestEpoch, bestNME: engine.history.bestNME)
        try run.write(record)
    }
}

/// A line of the run's result (shown with --quiet too).
func result(_ text: String) { Console.shared.logger.notice("\(text)") }
