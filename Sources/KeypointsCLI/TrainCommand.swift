// `keypoints train` and `keypoints coordinator`: flags in, the training engine run with the
// in-process gradient source or with workers through a coordinator.
import ArgumentParser
import Cluster
import Compute
import Data
import Foundation
import Model
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a keypoint model into a run folder; with --workers N, through a coordinator and N local worker processes.",
        discussion: """
        Make a dataset to try it with: keypoints synth --out data/cards --count 2000
        Then: keypoints train --data data/cards/labels.csv --out runs/cards; continue it with keypoints train --resume runs/cards
        """)

    @OptionGroup var setup: TrainingSetupOptions
    @Option(help: "Worker processes to start on this machine (0 = compute in this process).")
    var workers: Int = 0
    @Flag(name: .customLong("in-memory-inputs"),
          help: "Benchmark only, with --workers: each worker decodes a batch once and feeds it from memory to every later micro-batch, as PyTorch's DDP benchmark feeds tensors (training then learns nothing).")
    var inMemoryInputs = false

    func validate() throws {
        guard workers >= 0 else { throw ValidationError("--workers must be 0 or more") }
        guard !inMemoryInputs || workers > 0 else {
            throw ValidationError("--in-memory-inputs is for --workers N (the one-process benchmark on tensors is keypoints bench --mode train)")
        }
    }

    func run() throws {
        useLineBufferedOutput()
        let run = try RunSetup(setup, command: "train")
        StopRequest.shared.install()
        if workers == 0 {
            if run.config.wirePrecision != .f32 {
                say("note: --wire-precision \(run.config.wirePrecision) applies between a coordinator and its workers; "
                    + "this run computes in one process, exactly as with f32 (--workers N uses it)")
            }
            let source = LocalGradientSource(dataset: run.train, computer: MicroBatchComputer(config: run.config, network: run.trainer.network),
                                             plan: run.plan, threads: run.options.dataOptions.loaderThreads)
            let engine = try run.engine(source: source)
            try run.finish(engine, try engine.run(until: run.lastStep))
        } else {
            // Local workers reach the coordinator through a Unix socket in a folder only this user
            // can enter: no other user can connect, so no keys are needed and nothing is encrypted.
            let folder = try PrivateSocketFolder.make()
            defer { folder.remove() }
            var distributed = Distributed(run, bind: folder.endpoint, localWorkers: workers, minWorkers: workers, curve: nil)
            distributed.inMemoryInputs = inMemoryInputs
            try distributed.train()
        }
    }
}

/// `keypoints coordinator`: waits for workers, trains, checkpoints.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Own the dataset and the optimizer; hand micro-batches to workers that connect (keypoints worker).")

    @OptionGroup var setup: TrainingSetupOptions
    @Option(help: "ZeroMQ endpoint to listen on, e.g. tcp://*:5555.")
    var bind: String = "tcp://*:5555"
    @Option(name: .customLong("min-workers"), help: "Workers to wait for before the first step.")
    var minWorkers: Int = 1
    @Option(name: .customLong("max-workers"), help: "Workers admitted at most; later hellos are refused with the reason.")
    var maxWorkers: Int = 256

    func validate() throws {
        guard minWorkers >= 1, maxWorkers >= minWorkers else {
            throw ValidationError("--min-workers must be at least 1 and --max-workers at least --min-workers")
        }
    }
    @OptionGroup var security: CoordinatorSecurityOptions

    func run() throws {
        useLineBufferedOutput()
        let curve = try security.resolve(bind: bind)
        let run = try RunSetup(setup, command: "coordinator")
        StopRequest.shared.install()
        var distributed = Distributed(run, bind: bind, localWorkers: 0, minWorkers: minWorkers, curve: curve)
        distributed.maxWorkers = maxWorkers
        try distributed.train()
    }
}

/// A coordinator on `bind` as the engine's gradient source, with `localWorkers` worker processes
/// on this machine.
struct Distributed {
    let run: RunSetup
    let bind: String
    let localWorkers: Int
    let minWorkers: Int
    var maxWorkers = 256
    var curve: (CurveKeyPair, [String])?
    /// Local workers feed their inputs from memory (a benchmark mode).
    var inMemoryInputs = false

    init(_ run: RunSetup, bind: String, localWorkers: Int, minWorkers: Int, curve: (CurveKeyPair, [String])?) {
        self.run = run; self.bind = bind; self.localWorkers = localWorkers; self.minWorkers = minWorkers; self.curve = curve
    }

    func train() throws {
        let log: @Sendable (String) -> Void = { line in
            // Losing or muting a worker is worth seeing with --quiet too.
            let warn = ["removed (", "muted ", "could not welcome", "every local worker"].contains { line.contains($0) }
            say((warn ? "warning: " : "") + "[coordinator] \(line)")
        }
        let context = ZMQContext()
        let zap = try curve.map { try ZAPHandler(context: context, authorizedKeys: $0.1, log: log) }
        defer { zap?.stop() }
        let faults = run.options.faults
        let store = run.trainer.network.store, wire = WireFloats(precision: run.config.wirePrecision, layout: store.layout)
        let bucketBytes = run.options.microBatch.bucketBytes(bind: bind), buckets = ParameterBuckets(wire: wire, bytes: bucketBytes)
        // A worker's send queue holds a step's weights (a message per bucket) and its work and shards.
        let transport = try ZMQCoordinatorTransport(context: context, bind: bind,
                                                    heartbeat: (faults.heartbeatInterval, faults.heartbeatTimeout), curve: curve?.0,
                                                    limits: .coordinator(for: store, wire: wire, buckets: buckets),
                                                    sendQueue: 16 + buckets.count)
        if let curve { log("CURVE on: \(curve.1.count) authorized worker key(s)") }
        var options = Coordinator.Options()
        options.minWorkers = minWorkers
        options.maxWorkers = maxWorkers
        options.stepDeadline = faults.stepDeadline
        options.bucketBytes = bucketBytes
        let coordinator = Coordinator(transport: transport, dataset: run.train, config: run.config, network: run.trainer.network,
                                      options: options, log: log)
        if let status = run.status { coordinator.onStatus = { status.setCluster($0) } }
        let engine = try run.engine(source: coordinator)
        log("listening on \(transport.endpoint)")
        let children = try LocalWorkers(endpoint: transport.endpoint, count: localWorkers, threads: run.options.compute.threads,
                                        inMemoryInputs: inMemoryInputs)
        defer { children.stop() }
        // With local workers only, a run whose workers all exited can never go on: it stops (with a
        // checkpoint) instead of waiting for workers forever.
        engine.stopRequested = { StopRequest.shared.isRequested || children.allExited != nil }
        let end = try engine.run(until: run.lastStep)
        if end.completed { children.wait() }
        if end == .stopped, let exited = children.allExited {
            throw ClusterError("every local worker exited (\(exited)); their output is above")
        }
        try run.finish(engine, end)
    }
}
