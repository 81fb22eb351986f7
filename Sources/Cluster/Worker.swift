// A worker process: joins a coordinator, keeps the samples it is sent, and answers each work
// message with the gradients of that micro-batch. It needs no access to the dataset files.
import Data
import Foundation
import Model
import Training

public final class Worker {
    private let transport: WorkerTransport
    private let hello: HelloFields
    private let log: (String) -> Void
    /// The run's compute, samples and renderer; made anew when a welcome brings another configuration.
    private var computer: MicroBatchComputer?
    private var samples = SampleStore()
    private var loader: BatchLoader?
    private var weightsStep: UInt64?
    /// Seconds without any message after which the worker says hello again (the coordinator may
    /// have restarted and forgotten it).
    public var helloInterval: Double = 5

    public init(transport: WorkerTransport, hello: HelloFields, log: @escaping (String) -> Void) {
        self.transport = transport
        self.hello = hello
        self.log = log
    }

    /// Runs until the coordinator says bye (returns) or refuses this worker (throws).
    public func run() throws {
        try transport.send(try Message(kind: .hello, hello))
        var lastHeard = Date(), lastHello = Date()
        while true {
            let message: Message?
            do { message = try transport.receive(timeout: 1000) } catch {
                log("dropped a malformed message from the coordinator: \(error)")
                continue
            }
            guard let m = message else {
                if Date().timeIntervalSince(lastHeard) > helloInterval && Date().timeIntervalSince(lastHello) > helloInterval {
                    try transport.send(try Message(kind: .hello, hello))
                    lastHello = Date()
                } else {
                    try transport.send(Message(kind: .heartbeat, step: weightsStep ?? 0))
                }
                continue
            }
            lastHeard = Date()
            switch m.kind {
            case .welcome:
                let config = try m.fields(WelcomeFields.self).config
                if computer?.config != config {
                    computer = try MicroBatchComputer(config: config)
                    samples = SampleStore()
                    loader = BatchLoader(source: samples.source, renderer: config.renderer, augmentation: config.augmentation,
                                         seed: config.training.seed, threads: 1)
                    log("joined: MobileNetV1 alpha \(config.model.backbone.alpha) \(config.model.backbone.inputSize)px, "
                        + "micro-batch \(config.microBatch)")
                }
                weightsStep = nil
            case .shard:
                guard computer != nil else { continue }
                let f = try m.fields(ShardFields.self)
                guard f.indices.count == m.bulk.count, f.keypoints.count == f.indices.count,
                      f.visibility.count == f.indices.count, f.paths.count == f.indices.count else {
                    log("dropped a shard whose fields and frames disagree")
                    continue
                }
                for (i, index) in f.indices.enumerated() {
                    samples.keep(index: index, image: m.bulk[i].data, keypoints: f.keypoints[i],
                                 visibility: f.visibility[i], path: f.paths[i])
                }
            case .weights:
                guard let computer else { continue }
                let store = computer.network.store
                guard m.bulk.count == 2, let p = m.bulk[0].floatArray(expected: store.parameters.count),
                      let s = m.bulk[1].floatArray(expected: store.statistics.count) else {
                    log("dropped weights for step \(m.step) of the wrong size (coordinator and worker built differently?)")
                    continue
                }
                store.parameters.load(p)
                store.statistics.load(s)
                weightsStep = m.step
            case .work:
                guard let computer, let loader, weightsStep == m.step else {
                    log("dropped work for step \(m.step): weights are for step \(weightsStep.map(String.init) ?? "none")")
                    continue
                }
                let f = try m.fields(WorkFields.self)
                let missing = samples.missing(f.indices)
                guard missing.isEmpty else {
                    throw ClusterError("micro-batch \(f.microBatch) of step \(m.step) needs samples \(missing.prefix(5)), "
                                       + "which this worker was never sent")
                }
                let started = Date()
                let batch = loader.load(epoch: f.epoch, indices: f.indices)
                var r = try computer.compute(batch, step: Int(m.step), epoch: f.epoch, index: f.microBatch)
                r.computeSeconds = Date().timeIntervalSince(started)  // decoding and augmenting count as compute

                var bulk: [Frame] = [.floats(r.gradients)]
                if let stats = r.batchStatistics { bulk.append(.floats(stats)) }
                let fields = GradientFields(microBatch: f.microBatch, lossSum: r.lossSum, labelled: r.labelled, samples: r.samples,
                                            hasStatistics: r.batchStatistics != nil, failures: r.failures,
                                            computeSeconds: r.computeSeconds)
                try transport.send(try Message(kind: .gradients, step: m.step, fields, bulk: bulk))
            case .bye:
                log("coordinator says training is over")
                return
            case .refused:
                throw ClusterError("coordinator refused this worker: \((try? m.fields(ReasonFields.self).reason) ?? "no reason given")")
            default:
                continue
            }
        }
    }
}
