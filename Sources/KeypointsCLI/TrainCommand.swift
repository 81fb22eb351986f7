// `keypoints train`: trains on a labelled dataset in this process, or with N local worker processes.
import ArgumentParser
import Cluster
import Compute
import Data
import Foundation
import Model

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a keypoint regressor; with --workers N, through a coordinator and N local worker processes.",
        discussion: "Make a dataset to try it with: keypoints synth --out data/cards --count 2000")

    @OptionGroup var setup: TrainingSetupOptions
    @Option(help: "Worker processes to start on this machine (0 = compute in this process).")
    var workers: Int = 0

    func validate() throws {
        guard workers >= 0 else { throw ValidationError("--workers must be 0 or more") }
    }

    func run() throws {
        useLineBufferedOutput()
        let session = try TrainingSession(setup)
        if workers == 0 {
            StopRequest.shared.install()
            try session.runLocal()
        } else {
            try session.runDistributed(bind: "tcp://127.0.0.1:0", localWorkers: workers, minWorkers: workers)
        }
        try session.finish()
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
    @OptionGroup var security: CoordinatorSecurityOptions

    func run() throws {
        useLineBufferedOutput()
        let curve = try security.resolve(bind: bind)
        let session = try TrainingSession(setup)
        try session.runDistributed(bind: bind, localWorkers: 0, minWorkers: minWorkers, curve: curve)
        try session.finish()
    }
}

/// `keypoints worker`: computes gradients for a coordinator; needs no dataset files.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Join a coordinator and compute MobileNet gradients on the micro-batches it sends.")

    @Option(help: "The coordinator's endpoint, e.g. tcp://10.0.0.5:5555.")
    var connect: String
    @Option(help: "oneDNN threads (one worker per core uses a machine best).")
    var threads: Int = 1
    @Option(help: "This worker's name (unique per coordinator); default host-pid.")
    var name: String?
    @OptionGroup var security: WorkerSecurityOptions

    func run() throws {
        useLineBufferedOutput()
        Engine.setThreads(threads)
        let host = ProcessInfo.processInfo.hostName
        let pid = ProcessInfo.processInfo.processIdentifier
        let id = name ?? "\(host)-\(pid)"
        let context = ZMQContext()
        let curve = try security.resolve()
        let transport = try ZMQWorkerTransport(context: context, connect: connect, id: id, curve: curve)
        let worker = Worker(transport: transport, hello: HelloFields(name: id, host: host, threads: threads, pid: pid),
                            log: { print("[\(id)] \($0)") })
        print("[\(id)] connecting to \(connect)" + (curve == nil ? "" : " (CURVE)"))
        try worker.run()
    }
}
