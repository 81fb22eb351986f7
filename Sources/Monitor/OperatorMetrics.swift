// The Prometheus metrics of a run (swift-prometheus): `keypoints_*` gauges and counters, with units
// in their names as Prometheus' naming conventions ask, set from the run's status at each scrape.
import Foundation
import Prometheus
import Training

final class OperatorMetrics: @unchecked Sendable {
    private let registry: PrometheusCollectorRegistry
    private let lock = NSLock()
    private let step, lastStep, epoch, imagesPerSecond, workers, loss, learningRate, nme, meanShape, up: Gauge
    private let stepSeconds: [String: Gauge]
    private let reassigned, dropped: Counter
    private var counted = (reassigned: 0, dropped: 0)

    init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func gauge(_ name: String, unit: String? = nil, labels: [(String, String)] = [], _ help: String) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "keypoints", metricName: name, unitName: unit, helpText: help),
                               labels: labels)
        }
        func counter(_ name: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "keypoints", metricName: name, helpText: help))
        }
        step = gauge("step", "Training steps done.")
        lastStep = gauge("last_step", "The step the run ends at.")
        epoch = gauge("epoch", "The epoch in progress (1-based).")
        imagesPerSecond = gauge("images_per_second", "Training images per second in the last step.")
        workers = gauge("workers_alive", "Workers connected to the coordinator.")
        loss = gauge("train_loss", "The last step's training loss.")
        learningRate = gauge("learning_rate", "The last step's learning rate.")
        nme = gauge("validation_nme", "The last validation's normalised mean error (the run's --normalize).")
        meanShape = gauge("validation_nme_mean_shape", "The mean-shape baseline's NME on the same images.")
        up = gauge("training", "1 while training, 0 once the run has ended.")
        nme.set(.nan)          // not 0 (a perfect score) before the first validation
        meanShape.set(.nan)
        // The total apart from its parts: a sum over a label's values must mean something (Prometheus' naming guide).
        stepSeconds = Dictionary(uniqueKeysWithValues: ["compute", "transfer", "update"].map { part in
            (part, gauge("step_part", unit: "seconds", labels: [("part", part)],
                         "The last step's time by part, seconds: compute and transfer per worker, and the coordinator's update."))
        }).merging(["total": gauge("step", unit: "seconds", "The last step's time, seconds.")]) { a, _ in a }
        reassigned = counter("microbatches_reassigned_total", "Micro-batches taken from a removed worker and given to another.")
        dropped = counter("messages_dropped_total", "Malformed or refused messages the coordinator dropped.")
    }

    /// The Prometheus text exposition of `s`.
    func exposition(_ s: RunStatus.Snapshot) -> String {
        lock.withLock {
            step.set(Double(s.step)); lastStep.set(Double(s.lastStep)); epoch.set(Double(s.epoch))
            imagesPerSecond.set(s.imagesPerSecond); loss.set(s.loss); learningRate.set(s.learningRate)
            workers.set(Double(s.cluster?.workers.count ?? 0))
            up.set(s.state == "training" || s.state == "starting" ? 1.0 : 0.0)
            if let v = s.validationNME { nme.set(v) }
            if let v = s.meanShapeNME { meanShape.set(v) }
            stepSeconds["total"]?.set(s.stepSeconds); stepSeconds["compute"]?.set(s.computeSeconds)
            stepSeconds["transfer"]?.set(s.transferSeconds); stepSeconds["update"]?.set(s.updateSeconds)
            if let c = s.cluster {
                if c.microBatchesReassigned > counted.reassigned { reassigned.increment(by: Int64(c.microBatchesReassigned - counted.reassigned)) }
                if c.messagesDropped > counted.dropped { dropped.increment(by: Int64(c.messagesDropped - counted.dropped)) }
                counted = (max(counted.reassigned, c.microBatchesReassigned), max(counted.dropped, c.messagesDropped))
            }
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
    }
}
