// `keypoints bench`: training and inference throughput of the full model, with a per-layer profile.
import ArgumentParser
import Cluster
import Compute
import Data
import Foundation
import Model
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training images/s and inference latency/throughput (prints JSON lines too).",
        discussion: """
        The model matches ../shared/anchors/torch_mobilenet_bench.py: MobileNetV1 alpha 1.0, 224x224,
        GAP -> Dense(1024, ReLU) -> Dropout(0.5) -> Dense(8), MSE, Adam lr 1e-4. Random inputs.
        """)

    @OptionGroup var compute: ComputeOptions
    @Option(help: "train, infer, data (decode + augment, 640x480 JPEGs to the input size) or all.")
    var mode: String = "all"
    @Option(help: "Training batch size.")
    var batch: Int = 32
    @Option(name: .customLong("input-size")) var inputSize: Int = 224
    @Option var alpha: Double = 1.0
    @Option(help: "Head: regression (the anchor's), heatmap or simcc, at their default settings.") var head: HeadKind = .regression
    @Option(name: .customLong("feature-stride"), help: "16 or 32 (default: 32 for regression, 16 otherwise).") var featureStride: Int?
    @Option(help: "Untimed steps first.") var warmup: Int = 3
    @Option(help: "Timed steps (the median is reported).") var steps: Int = 10
    @Flag(help: "Print where the time goes, layer by layer (forward and backward).") var profile = false
    @Flag(name: .customLong("unfused-norm"),
          help: "oneDNN's batch norm then its ReLU6, as before the fused kernels (to compare them).") var unfusedNorm = false
    @Option(help: "What the backbone's convolutions multiply in: f32, or bf16 (oneDNN's bf16 kernels, on CPUs with AVX512-BF16 or AMX), as train --precision.")
    var precision: ComputePrecision = .f32
    @Option(name: .customLong("bucket-mb"), help: "With --profile: the buckets (as train --bucket-mb) whose times to print: when the forward first needs each one's weights, when backward makes its gradient final.")
    var bucketMB: Double = Double(ParameterBuckets.defaultBytes) / 1_048_576
    @Option(name: .customLong("wire-precision"), help: "With --profile: the wire precision of those buckets (f32, bf16, fp16).")
    var wirePrecision: WirePrecision = .bf16

    func run() throws {
        useLineBufferedOutput()
        Engine.setThreads(compute.threads)
        let stride = featureStride ?? (head == .regression ? 32 : 16)
        let config = ModelConfig(backbone: MobileNetV1Config(alpha: alpha, inputSize: inputSize, outputStride: stride),
                                 head: HeadConfig(kind: head, hidden: 1024, dropout: 0.5), keypoints: 4)
        let network = try KeypointNetwork(config, fusedNormalization: !unfusedNorm, precision: precision)
        Initializer.he.initialise(network.store, seed: 0)
        print("oneDNN \(Engine.libraryVersion) (\(Engine.instructionSet) kernels, activations \(Layout.blocked)), "
              + "\(Engine.threads) thread(s), MobileNetV1 alpha \(alpha) \(inputSize)px, "
              + "stride \(stride), \(head.rawValue) head, \(precision) convolutions, BN and ReLU6 \(unfusedNorm ? "on oneDNN, apart" : "fused"), "
              + "\(network.store.layout.parameterCount) parameters, \(network.store.layout.statisticCount) BN statistics")
        if mode == "train" || mode == "all" { try benchTraining(network) }
        if mode == "infer" || mode == "all" {
            let folded = try FoldedNetwork(network)
            for n in [1, batch] {
                try benchInference(network, batch: n)
                try benchFoldedInference(folded, batch: n)
            }
        }
        if mode == "data" || mode == "all" { try benchData() }
    }

    /// Decode + augment + render throughput of one loader thread: JPEG photos of 640x480 (the
    /// synthetic cards) to `inputSize` network inputs with the default augmentation.
    private func benchData() throws {
        let generator = SyntheticCards(size: 640, seed: 1)
        let jpegs = try (0..<batch).map { try ImageCodec.encodeJPEG(generator.sample($0).image, quality: 92) }
        let records = (0..<batch).map { i in
            LabelRecord(imagePath: "synthetic \(i)", keypoints: generator.sample(i).keypoints, visibility: [2, 2, 2, 2], source: "bench")
        }
        let labels = LabelSet(records: records, description: DatasetDescription(keypointNames: SyntheticCards.keypointNames),
                              sourceFile: "bench")
        let dataset = KeypointDataset(labels: labels, images: jpegs)
        let renderer = SampleRenderer(size: inputSize, resize: .letterbox, description: dataset.description)
        let loader = BatchLoader(source: dataset.sampleSource, renderer: renderer, augmentation: AugmentationConfig(),
                                 seed: 0, threads: 1)
        var times: [Double] = []
        for i in 0..<(warmup + steps) {
            let t0 = Date()
            _ = loader.load(epoch: i, indices: Array(0..<batch))
            if i >= warmup { times.append(Date().timeIntervalSince(t0)) }
        }
        let med = median(times)
        print(String(format: "data: decode 640x480 JPEG + augment + render %dpx, 1 thread: %.1f images/s", inputSize, Double(batch) / med))
        emit(["bench": "keypoints_data", "threads": 1, "batch": batch, "steps": steps, "input_size": inputSize,
              "img_s_median": Double(batch) / med])
    }

    private func randomBatch(_ n: Int, seed: UInt64) -> LoadedBatch {
        var rng = SplitMix64(seed: seed)
        let images = (0..<(n * 3 * inputSize * inputSize)).map { _ in rng.nextUnit() * 2 - 1 }
        let targets = (0..<(n * 8)).map { _ in rng.nextUnit() }
        return LoadedBatch(images: images, targets: targets, mask: [Float](repeating: 1, count: n * 4), indices: Array(0..<n))
    }

    /// The training engine's step (micro-batch compute, reduction, BN fold, Adam) on one random
    /// batch of `batch` images as a single micro-batch, timed per step by an observer.
    private func benchTraining(_ network: KeypointNetwork) throws {
        var tc = TrainingConfig()
        tc.learningRate = 1e-4
        tc.epochs = warmup + steps
        let config = RunConfig(model: network.config, training: tc,
                               description: DatasetDescription(keypointNames: network.config.keypointNames),
                               resize: .letterbox, augmentation: .none, microBatch: batch)
        let plan = StepPlan(samples: batch, config: config)
        let source = FixedBatch(MicroBatchComputer(config: config, network: network), batch: randomBatch(batch, seed: 1))
        source.readiness = profile ? BucketTiming() : nil
        let engine = TrainingEngine(config: config, trainer: Trainer(network: network, config: tc), plan: plan, source: source,
                                    validation: nil)
        let timer = StepTimes(profileFrom: profile ? warmup : nil, network: network)
        engine.observers = [timer]
        try engine.run()
        let times = Array(timer.seconds.dropFirst(warmup))
        let med = median(times)
        print(String(format: "train: batch %d, median step %.3f s, %.2f images/s (min %.2f, max %.2f)",
                     batch, med, Double(batch) / med, Double(batch) / times.max()!, Double(batch) / times.min()!))
        emit(["bench": "keypoints_train", "threads": Engine.threads, "batch": batch, "steps": steps,
              "step_s_median": med, "img_s_median": Double(batch) / med])
        if let p = network.profile {
            printProfile(p, steps: steps, stepTime: med)
            network.profile = nil
        }
        if let readiness = source.readiness { printBuckets(readiness, layout: network.store.layout) }
    }

    /// When a worker with this micro-batch would first need each bucket of its weights, and when
    /// each bucket of its gradient would be final, seconds after its compute starts (medians over
    /// the profiled steps): the input of scripts/scaling-model.py.
    private func printBuckets(_ readiness: BucketTiming, layout: ParameterLayout) {
        let wire = WireFloats(precision: wirePrecision, layout: layout)
        let buckets = ParameterBuckets(wire: wire, bytes: max(1, Int(bucketMB * 1_048_576)))
        let compute = median(readiness.computeSeconds)
        let ready = buckets.tensors.enumerated().map { b, tensors in
            b == 0 ? compute : median(readiness.seconds.map { reports in reports.first { $0.first <= tensors.lowerBound }?.seconds ?? compute })
        }
        let needed = buckets.tensors.map { tensors in
            median(readiness.asked.map { asks in asks.first { $0.upTo > tensors.lowerBound }?.seconds ?? 0 })
        }
        print(String(format: "buckets (%@ on the wire, %.2f MiB each): compute %.0f ms; weights bucket first needed, gradient bucket final at",
                     "\(wirePrecision)", bucketMB, compute * 1000))
        for b in buckets.tensors.indices {
            let t = buckets.tensors[b]
            print("  bucket " + pad("\(b)", 3) + String(format: " %6.2f MB  needed at %6.1f ms (%3.0f%%), final at %6.1f ms (%3.0f%%)  ",
                                                        Double(buckets.frameBytes[b]) / 1e6, needed[b] * 1000, 100 * needed[b] / compute,
                                                        ready[b] * 1000, 100 * ready[b] / compute)
                  + "\(layout.parameters[t.lowerBound].name) ... \(layout.parameters[t.upperBound - 1].name)")
        }
        emit(["bench": "keypoints_buckets", "threads": Engine.threads, "batch": batch, "wire": "\(wirePrecision)", "compute_s": compute,
              "bucket_bytes": buckets.frameBytes, "needed_s": needed, "ready_s": ready])
    }

    /// The network as trained (BN and ReLU6 layers of their own): what PyTorch's eval() runs too.
    private func benchInference(_ network: KeypointNetwork, batch n: Int) throws {
        let x = try network.input(batch: n)
        try x.load(plain: randomBatch(n, seed: 2).images)
        try timeInference(name: "keypoints_infer", label: "infer", batch: n) { _ = try network.forward(x, mode: .inference).plain() }
    }

    /// What `predict` and `evaluate` run: BN folded into the convolutions, ReLU6 fused.
    private func benchFoldedInference(_ folded: FoldedNetwork, batch n: Int) throws {
        let images = randomBatch(n, seed: 2).images
        try timeInference(name: "keypoints_infer_folded", label: "infer (BN folded, as predict runs)", batch: n) {
            _ = try folded.predict(images, batch: n)
        }
    }

    /// Times `pass` (warm-up passes first) and prints the median latency and throughput.
    private func timeInference(name: String, label: String, batch n: Int, _ pass: () throws -> Void) throws {
        var times: [Double] = []
        for i in 0..<(warmup + steps) {
            let t0 = Date()
            try pass()
            if i >= warmup { times.append(Date().timeIntervalSince(t0)) }
        }
        let med = median(times)
        print(String(format: "%@: batch %d, median %.2f ms, %.2f images/s", label, n, med * 1000, Double(n) / med))
        emit(["bench": name, "threads": Engine.threads, "batch": n, "steps": steps,
              "latency_ms_median": med * 1000, "img_s_median": Double(n) / med])
    }

    private func printProfile(_ profile: [LayerTime], steps: Int, stepTime: Double) {
        let total = profile.reduce(0) { $0 + $1.forward + $1.backward } / Double(steps)
        print(String(format: "profile (ms per step; layers sum to %.0f ms of a %.0f ms step):", total * 1000, stepTime * 1000))
        var groups: [String: Double] = [:]
        for l in profile {
            let f = l.forward / Double(steps) * 1000, b = l.backward / Double(steps) * 1000
            print("  " + pad(l.name, 18) + String(format: " fwd %7.2f  bwd %7.2f", f, b))
            groups[kind(l.name), default: 0] += f + b
        }
        print("by kind:")
        for (k, ms) in groups.sorted(by: { $0.value > $1.value }) {
            print("  " + pad(k, 22) + String(format: " %7.1f ms  %5.1f%%", ms, 100 * ms / (total * 1000)))
        }
    }

    private func pad(_ s: String, _ width: Int) -> String { s.padding(toLength: max(width, s.count), withPad: " ", startingAt: 0) }

    private func kind(_ name: String) -> String {
        if name.hasSuffix("_bn") { return unfusedNorm ? "batch norm" : "batch norm + ReLU6" }
        if name.hasSuffix("_relu") { return "relu/relu6" }
        if name.hasPrefix("conv_pw") { return "1x1 convolution" }
        if name.hasPrefix("conv_dw") { return "depthwise convolution" }
        if name == "conv1" { return "first convolution" }
        return "head"
    }

    private func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    private func emit(_ fields: [String: Any]) {
        if let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]),
           let line = String(data: data, encoding: .utf8) { print(line) }
    }
}

/// A gradient source that computes every micro-batch on the same rendered batch (random images).
private final class FixedBatch: GradientSource {
    let computer: MicroBatchComputer
    let batch: LoadedBatch
    /// Records when backward finishes each run of tensors while the network profiles.
    var readiness: BucketTiming?
    init(_ computer: MicroBatchComputer, batch: LoadedBatch) { self.computer = computer; self.batch = batch }

    func gradients(for work: StepWork, shouldStop: () -> Bool) throws -> SourcedGradients {
        SourcedGradients(results: try work.microBatches.indices.map { index in
            guard let readiness, computer.network.profile != nil else {
                return try computer.compute(batch, step: work.step, epoch: work.epoch, index: index)
            }
            let started = Date()
            var reports: [(first: Int, seconds: Double)] = [], asks: [(upTo: Int, seconds: Double)] = []
            let result = try computer.compute(batch, step: work.step, epoch: work.epoch, index: index,
                                              weightsNeeded: { asks.append(($0, Date().timeIntervalSince(started))) },
                                              gradientsReady: { reports.append(($0, Date().timeIntervalSince(started))) })
            readiness.seconds.append(reports)
            readiness.asked.append(asks)
            readiness.computeSeconds.append(Date().timeIntervalSince(started))
            return result
        })
    }
}

/// Per profiled micro-batch: when the forward asked for tensors 0..<`upTo`, when backward reported
/// tensors `first`... final, and the whole compute, seconds from its start.
private final class BucketTiming {
    var asked: [[(upTo: Int, seconds: Double)]] = []
    var seconds: [[(first: Int, seconds: Double)]] = []
    var computeSeconds: [Double] = []
}

/// Each step's wall time; turns the per-layer profile on after the warm-up steps.
private final class StepTimes: TrainingObserver {
    private(set) var seconds: [Double] = []
    let profileFrom: Int?
    let network: KeypointNetwork
    init(profileFrom: Int?, network: KeypointNetwork) {
        self.profileFrom = profileFrom
        self.network = network
        if profileFrom == 0 { network.profile = [] }
    }

    func stepEnded(_ record: StepRecord, engine: TrainingEngine) throws {
        seconds.append(record.timing.total)
        if record.stepsDone == profileFrom { network.profile = [] }
    }
}
