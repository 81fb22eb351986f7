// The run as an operator watches it, shared between the training thread and the status server:
// the latest step, the learning curves, the workers and the cluster's counters, and the latest
// validation picture. `RunStatusObserver` and the coordinator write it; the server reads copies.
import Data
import Foundation

/// One worker as the coordinator sees it.
public struct WorkerStatus: Sendable, Codable, Equatable {
    public var name: String
    public var host: String
    public var pid: Int
    public var threads: Int
    /// When it joined and when it last sent anything (seconds since 1970).
    public var joined: Double
    public var lastSeen: Double
    /// Micro-batches it computed, and how many of them it took over from a worker that was removed.
    public var microBatchesDone: Int
    public var microBatchesTakenOver: Int
    /// Its samples per second of its own compute time, over what it has done.
    public var imagesPerSecond: Double
    /// True while it holds a micro-batch.
    public var busy: Bool

    public init(name: String, host: String, pid: Int, threads: Int, joined: Double, lastSeen: Double, microBatchesDone: Int,
                microBatchesTakenOver: Int, imagesPerSecond: Double, busy: Bool) {
        self.name = name; self.host = host; self.pid = pid; self.threads = threads; self.joined = joined; self.lastSeen = lastSeen
        self.microBatchesDone = microBatchesDone; self.microBatchesTakenOver = microBatchesTakenOver
        self.imagesPerSecond = imagesPerSecond; self.busy = busy
    }
}

/// What the coordinator reports after each step and each join or departure.
public struct ClusterStatus: Sendable, Codable, Equatable {
    public var workers: [WorkerStatus]
    /// Micro-batches taken from a removed worker and given to another, since the start.
    public var microBatchesReassigned: Int
    /// Malformed or refused messages dropped, since the start.
    public var messagesDropped: Int

    public init(workers: [WorkerStatus], microBatchesReassigned: Int, messagesDropped: Int) {
        self.workers = workers; self.microBatchesReassigned = microBatchesReassigned; self.messagesDropped = messagesDropped
    }
}

public final class RunStatus: @unchecked Sendable {
    /// One epoch's point of the learning curves.
    public struct EpochPoint: Sendable, Codable, Equatable {
        public var epoch: Int, step: Int
        public var trainLoss: Double, validationLoss: Double, nme: Double, meanShapeNME: Double, pck10: Double
    }

    /// Everything the status page and the metrics endpoint show, as of `updated`.
    public struct Snapshot: Sendable, Codable {
        /// `starting`, `training`, then how it ended: `finished`, `stopped early`, `stopped`, `gave up`, `failed`.
        public var state = "starting"
        public var step = 0, lastStep = 0, epoch = 0, epochs = 0
        public var loss = 0.0, learningRate = 0.0, gradientNorm = 0.0, imagesPerSecond = 0.0
        /// The last step's time split, seconds.
        public var stepSeconds = 0.0, computeSeconds = 0.0, transferSeconds = 0.0, updateSeconds = 0.0
        /// (steps done, training loss), at most `RunStatus.curveLimit` points spread over the run.
        public var lossCurve: [[Double]] = []
        public var epochCurve: [EpochPoint] = []
        public var cluster: ClusterStatus?
        /// The latest validation NME and the mean shape's (nil before the first validation).
        public var validationNME: Double?
        public var meanShapeNME: Double?
        /// When this changed last, and when this copy was taken (seconds since 1970): the page shows
        /// how long ago each worker was seen by the server's clock, not the browser's.
        public var updated = Date().timeIntervalSince1970
        public var now = Date().timeIntervalSince1970
    }

    public static let curveLimit = 2000
    private let lock = NSLock()
    private var snapshot = Snapshot()
    private var overlay: Foundation.Data?
    private var curveStride = 1

    public init() {}

    /// A copy of the current state.
    public var current: Snapshot {
        var copy = lock.withLock { snapshot }
        copy.now = Date().timeIntervalSince1970
        return copy
    }
    /// The latest validation picture (PNG), if any epoch has ended.
    public var overlayPNG: Foundation.Data? { lock.withLock { overlay } }

    public func update(_ change: (inout Snapshot) -> Void) {
        lock.withLock {
            change(&snapshot)
            snapshot.updated = Date().timeIntervalSince1970
        }
    }

    /// Adds a loss point, halving the curve's resolution whenever it reaches `curveLimit` points.
    func addLoss(step: Int, loss: Double) {
        lock.withLock {
            guard step % curveStride == 0 else { return }
            snapshot.lossCurve.append([Double(step), loss])
            if snapshot.lossCurve.count >= Self.curveLimit {
                curveStride *= 2
                snapshot.lossCurve = snapshot.lossCurve.filter { Int($0[0]) % curveStride == 0 }
            }
        }
    }

    func setOverlay(_ png: Foundation.Data) { lock.withLock { overlay = png } }

    /// The coordinator's report.
    public func setCluster(_ cluster: ClusterStatus) { update { $0.cluster = cluster } }
}

/// Keeps a `RunStatus` up to date from the engine's events.
public final class RunStatusObserver: TrainingObserver {
    public let status: RunStatus
    private let images: Int

    /// - Parameter images: validation images drawn for the page each epoch (0: none).
    /// - Parameter lastStep: the step this invocation ends at (`--steps`, or the end of the last epoch).
    public init(status: RunStatus, engine: TrainingEngine, lastStep: Int? = nil, images: Int = 4) {
        self.status = status
        self.images = images
        let history = engine.history.epochs
        status.update { s in
            s.state = "training"
            s.step = engine.trainer.step
            s.lastStep = lastStep ?? engine.totalSteps
            s.epochs = engine.config.training.epochs
            s.epochCurve = history.map(Self.point)
            s.validationNME = history.last?.metrics.nme
            s.meanShapeNME = history.last?.meanShapeNME
        }
    }

    public func stepEnded(_ r: StepRecord, engine: TrainingEngine) throws {
        let t = r.timing
        status.update { s in
            s.step = r.stepsDone
            s.epoch = r.epoch + 1
            if let report = r.report {
                s.loss = Double(report.loss); s.learningRate = Double(report.learningRate); s.gradientNorm = Double(report.gradientNorm)
            }
            s.imagesPerSecond = Double(t.samples) / max(t.total, 1e-9)
            s.stepSeconds = t.total; s.computeSeconds = t.compute; s.transferSeconds = t.transfer; s.updateSeconds = t.update
        }
        if let report = r.report { status.addLoss(step: r.stepsDone, loss: Double(report.loss)) }
    }

    public func epochEnded(_ summary: EpochSummary, engine: TrainingEngine) throws {
        status.update { s in
            s.epochCurve.append(Self.point(summary))
            s.validationNME = summary.metrics.nme
            s.meanShapeNME = summary.meanShapeNME
        }
        guard images > 0, let validation = engine.validation else { return }
        let drawn = try validation.overlays(engine.trainer.network, count: images)
        if !drawn.isEmpty { status.setOverlay(try ImageCodec.encodePNG(RGBImage.grid(drawn, columns: drawn.count))) }
    }

    public func runEnded(_ end: RunEnd, engine: TrainingEngine) throws {
        let state: String
        switch end {
        case .finished: state = "finished"
        case .earlyStopped: state = "stopped early"
        case .stopped: state = "stopped"
        case .gaveUp: state = "gave up"
        case .failed: state = "failed"
        }
        status.update { $0.state = state }
    }

    private static func point(_ s: EpochSummary) -> RunStatus.EpochPoint {
        RunStatus.EpochPoint(epoch: s.epoch, step: s.step, trainLoss: s.trainLoss, validationLoss: s.validationLoss,
                             nme: s.metrics.nme, meanShapeNME: s.meanShapeNME, pck10: s.metrics.pck10)
    }
}
