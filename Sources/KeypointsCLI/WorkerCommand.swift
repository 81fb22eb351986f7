// `keypoints worker`: joins a coordinator and computes the micro-batches it is sent.
import ArgumentParser
import Cluster
import Compute
import Foundation

/// `keypoints worker`: computes gradients for a coordinator; needs no dataset files.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Join a coordinator and compute MobileNet gradients on the micro-batches it sends.")

    @Option(help: "The coordinator's endpoint, e.g. tcp://10.0.0.5:5555, or ipc://FOLDER/NAME on this machine.")
    var connect: String
    @Option(help: "oneDNN threads (one worker per core uses a machine best).")
    var threads: Int = 1
    @Option(help: "This worker's name (unique per coordinator); default host-pid.")
    var name: String?
    @Option(name: .customLong("give-up-after"), help: "Exit with an error after this many seconds without a word from the coordinator (0 = wait forever).")
    var giveUpAfter: Double = 900
    @Flag(name: .customLong("in-memory-inputs"),
          help: "Benchmark only: decode each micro-batch size's first batch once and feed it from memory to every later one, as PyTorch's benchmarks feed tensors (training then learns nothing).")
    var inMemoryInputs = false
    @OptionGroup var security: WorkerSecurityOptions
    @OptionGroup var configFile: ConfigFileOption
    @OptionGroup var logging: LogOptions

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard giveUpAfter >= 0 else { throw ValidationError("--give-up-after must be 0 (wait forever) or more seconds") }
        try security.validate(connect: connect)
    }

    func run() throws {
        Console.shared.configure(logging)
        Engine.setThreads(threads)
        let host = ProcessInfo.processInfo.hostName
        let pid = ProcessInfo.processInfo.processIdentifier
        let id = name ?? "\(host)-\(pid)"
        let context = ZMQContext()
        let curve = try security.resolve()
        let transport = try ZMQWorkerTransport(context: context, connect: connect, id: id, curve: curve)
        let worker = Worker(transport: transport, hello: HelloFields(name: id, host: host, threads: threads, pid: pid),
                            log: { say("[\(id)] \($0)") })
        worker.giveUpAfter = giveUpAfter
        worker.inMemoryInputs = inMemoryInputs
        if inMemoryInputs { say("[\(id)] benchmark mode: inputs fed from memory (--in-memory-inputs); this training learns nothing") }
        say("[\(id)] connecting to \(connect)" + (curve != nil ? " (CURVE)" : connect.hasPrefix("ipc://") ? " (Unix socket)" : ""))
        try worker.run()
    }
}
