// The whole keypoint network: MobileNetV1 backbone + head (regression, heatmap or SimCC) over one ParameterStore.
import Compute

/// Everything that defines a network's shape and its input/output conventions.
public struct ModelConfig: Sendable, Codable, Equatable {
    public var backbone: MobileNetV1Config
    public var head: HeadConfig
    /// Number of keypoints K; the network predicts 2K numbers.
    public var keypoints: Int
    /// Keypoint names, K of them (`kp1`... when the dataset gives none).
    public var keypointNames: [String]

    public init(backbone: MobileNetV1Config = .init(), head: HeadConfig = .init(),
                keypoints: Int = 4, keypointNames: [String]? = nil) {
        self.backbone = backbone
        self.head = head
        self.keypoints = keypoints
        self.keypointNames = keypointNames ?? (1...max(keypoints, 1)).map { "kp\($0)" }
    }

    public func validate() throws {
        try backbone.validate()
        guard keypoints >= 1 && keypoints <= 256 else { throw ModelError("keypoints must be 1...256, got \(keypoints)") }
        guard keypointNames.count == keypoints else {
            throw ModelError("\(keypointNames.count) keypoint names given for \(keypoints) keypoints")
        }
        try head.validate()
    }

    /// The tensor layout: backbone tensors first, then the head's.
    public var layout: ParameterLayout {
        var layout = ParameterLayout()
        backbone.declare(in: &layout)
        head.declare(in: &layout, backbone: backbone, keypoints: keypoints)
        return layout
    }
}

/// Time spent in one layer, summed over passes (seconds).
public struct LayerTime: Sendable {
    public var name: String
    public var forward: Double = 0
    public var backward: Double = 0
}

/// MobileNetV1 + keypoint head. Input [N, 3, S, S] plain NCHW, pixels scaled to [-1, 1];
/// output [N, 2K] normalised coordinates (x, y in [0, 1] of the input frame).
public final class KeypointNetwork {
    public let config: ModelConfig
    public let store: ParameterStore
    public let backbone: MobileNetV1
    public let head: any KeypointHead
    let engine: Engine
    private var inputs: [Int: Tensor] = [:]
    private var predictionGradients: [Int: Tensor] = [:]
    /// When set, forward and backward add each layer's time here (for `keypoints bench --profile`).
    public var profile: [LayerTime]?

    /// Builds the network over freshly allocated (zeroed) buffers; call an ``Initializer`` or load weights next.
    /// `fusedNormalization`, `precision`: as in ``MobileNetV1``'s init (the backbone's convolutions).
    public init(_ config: ModelConfig, engine: Engine = .cpu, fusedNormalization: Bool = true, precision: ComputePrecision = .f32) throws {
        try config.validate()
        self.config = config
        self.engine = engine
        store = ParameterStore(config.layout)
        backbone = try MobileNetV1(config.backbone, store: store, engine: engine, fusedNormalization: fusedNormalization,
                                   precision: precision)
        head = try config.head.make(backbone: config.backbone, keypoints: config.keypoints, store: store, engine: engine)
    }

    /// All layers in order: backbone then head.
    public var layers: [NamedLayer] { backbone.layers + head.layers }

    /// True while the backbone is frozen: its BN uses running statistics, it gets no gradients, and
    /// backward stops at the head.
    public var backboneFrozen = false {
        didSet {
            head.propagatesToBackbone = !backboneFrozen
            for l in backbone.layers { l.layer.computesParameterGradients = !backboneFrozen }
        }
    }

    /// The (reused) input tensor for batch size `n`: fill it with [N, 3, S, S] values in [-1, 1].
    public func input(batch n: Int) throws -> Tensor {
        if let t = inputs[n] { return t }
        let s = config.backbone.inputSize
        let t = try Tensor([n, 3, s, s], layout: .nchw, engine: engine)
        inputs[n] = t
        return t
    }

    /// Predictions [N, 2K] for `x`. In training mode the backbone still infers while frozen.
    ///
    /// `weightsNeeded(t)` is called before a layer whose parameters are not all among the first
    /// `t` tensors already asked for: the caller returns once parameter tensors 0..<t (layout
    /// order) hold this pass's weights. The forward runs conv1 first, so a worker can start on
    /// the first tensors' weights while the rest are still arriving; last comes t = every tensor.
    public func forward(_ x: Tensor, mode: Mode, weightsNeeded: ((Int) throws -> Void)? = nil) throws -> Tensor {
        let backboneMode: Mode = backboneFrozen ? .inference : mode
        let base = backbone.layers.count
        var h = x, asked = 0
        for (i, l) in layers.enumerated() {
            if let weightsNeeded, neededTensors[i] > asked {
                asked = neededTensors[i]
                try weightsNeeded(asked)
            }
            h = try timed(i, forward: true) { try l.layer.forward(h, mode: i < base ? backboneMode : mode) }
        }
        if let weightsNeeded, asked < store.layout.parameters.count { try weightsNeeded(store.layout.parameters.count) }
        return h
    }

    /// Back-propagates dLoss/dPredictions [N, 2K] (plain, row-major) and writes every trainable
    /// parameter's gradient into `store.gradients` (frozen parameters keep their old values).
    ///
    /// `gradientsReady(t)` is called after a layer's backward whenever the gradients of every
    /// parameter tensor from index `t` (layout order) to the last are final for this pass: later
    /// layers of the backward never write them again. `t` only decreases; backward reaches the
    /// head's tensors first, so they are ready long before the first convolution's (what gradient
    /// buckets are sent on while backward runs).
    public func backward(_ dPredictions: [Float], gradientsReady: ((Int) -> Void)? = nil) throws {
        let n = dPredictions.count / (2 * config.keypoints)
        if predictionGradients[n] == nil {
            predictionGradients[n] = try Tensor([n, 2 * config.keypoints], layout: .nc, engine: engine)
        }
        let dy = predictionGradients[n]!
        try dy.load(plain: dPredictions)
        var d: Tensor? = dy
        var ready = store.layout.parameters.count
        for (i, l) in layers.enumerated().reversed() {
            guard let g = d else { return }
            d = try timed(i, forward: false) { try l.layer.backward(g) }
            if let gradientsReady, readyTensors[i] < ready {
                ready = readyTensors[i]
                gradientsReady(ready)
            }
        }
    }

    /// The layer (index into `layers`) that owns each parameter tensor, nil for none: a layer
    /// owns the tensors named after it (`backbone.conv_pw_13.weight` is `conv_pw_13`'s,
    /// `head.maps.weight` the head's `maps`').
    private lazy var owners: [Int?] = {
        let backboneCount = backbone.layers.count
        let prefixes = layers.enumerated().map { i, l in "\(i < backboneCount ? "backbone" : "head").\(l.name)." }
        return store.layout.parameters.map { spec in prefixes.firstIndex { spec.name.hasPrefix($0) } }
    }()

    /// For each layer i: the first tensor index from which every parameter tensor belongs to
    /// layer i or a later one, i.e. is final once backward has run layers i... A tensor no layer
    /// claims is never ready early.
    private lazy var readyTensors: [Int] = layers.indices.map { i in
        var t = owners.count
        while t > 0, let owner = owners[t - 1], owner >= i { t -= 1 }
        return t
    }

    /// For each layer i: how many leading tensors hold every tensor of layers 0...i, i.e. must
    /// hold their weights before layer i's forward. A tensor no layer claims is needed first.
    private lazy var neededTensors: [Int] = layers.indices.map { i in
        (owners.lastIndex { $0 == nil || $0! <= i } ?? -1) + 1
    }

    private func timed(_ index: Int, forward: Bool, _ body: () throws -> Tensor?) throws -> Tensor? {
        guard profile != nil else { return try body() }
        let start = ContinuousClock.now
        let result = try body()
        let elapsed = start.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        if profile!.count != layers.count { profile = layers.map { LayerTime(name: $0.name) } }
        if forward { profile![index].forward += seconds } else { profile![index].backward += seconds }
        return result
    }

    private func timed(_ index: Int, forward: Bool, _ body: () throws -> Tensor) throws -> Tensor {
        try timed(index, forward: forward) { () throws -> Tensor? in try body() }!
    }

    /// The last training forward's BN batch statistics in the statistics buffer's layout (for each
    /// BN layer: mean [C] where `running_mean` lives, variance [C] where `running_var` lives), or
    /// nil when the backbone ran in inference mode (frozen).
    public func batchStatistics() -> [Float]? {
        var out = [Float](repeating: 0, count: store.layout.statisticCount)
        for named in backbone.layers {
            guard let bn = named.layer as? any BatchStatisticsReporting else { continue }
            guard let (mean, variance) = bn.lastBatchStatistics else { return nil }
            let base = "backbone.\(named.name)"
            let m = store.spec("\(base).running_mean")!, v = store.spec("\(base).running_var")!
            out.replaceSubrange(m.range, with: mean)
            out.replaceSubrange(v.range, with: variance)
        }
        return out
    }

    /// Convenience: predictions for a plain [N, 3, S, S] array, as a plain [N, 2K] array.
    public func predict(_ images: [Float], batch n: Int) throws -> [Float] {
        let x = try input(batch: n)
        try x.load(plain: images)
        return try forward(x, mode: .inference).plain()
    }
}
