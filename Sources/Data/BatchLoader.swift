// Background batch preparation: decoding, augmentation and rendering run on worker threads and
// fill a bounded queue of ready batches while the current batch trains.
import Foundation

/// A batch ready for the network, in sample order. Images [N, 3, S, S] in [-1, 1]; targets [N, 2K]
/// in [0, 1] of the input frame; mask [N, K].
public struct LoadedBatch: Sendable {
    public var images: [Float]
    public var targets: [Float]
    public var mask: [Float]
    /// Dataset indices of the samples in the batch (failed samples left out).
    public var indices: [Int]
    /// Samples that could not be loaded (an image changed or vanished on disk): skipped, reported.
    public var failures: [DataError]
    public var count: Int { indices.count }

    public init(images: [Float], targets: [Float], mask: [Float], indices: [Int], failures: [DataError] = []) {
        self.images = images; self.targets = targets; self.mask = mask; self.indices = indices; self.failures = failures
    }
}

/// Produces the batches of one pass in order, `prefetch` batches ahead, decoding and augmenting on
/// `threads` threads. Sample i of epoch e is always rendered with augmentation drawn from
/// (seed, e, i), so the result does not depend on the thread that renders it.
public final class BatchLoader: @unchecked Sendable {
    /// Decodes sample `index`'s image and returns it with its keypoints [2K] and visibility [K].
    public typealias SampleSource = @Sendable (_ index: Int) throws -> (RGBImage, [Float], [UInt8])

    private let source: SampleSource
    private let renderer: SampleRenderer
    private let augmentation: AugmentationConfig
    private let seed: UInt64
    private let threads: Int
    private let prefetch: Int
    private let condition = NSCondition()
    private var ready: [Int: LoadedBatch] = [:]
    private var nextToHand = 0
    private var total = 0
    private var cancelled = false

    public init(source: @escaping SampleSource, renderer: SampleRenderer, augmentation: AugmentationConfig,
                seed: UInt64, threads: Int, prefetch: Int = 2) {
        self.source = source
        self.renderer = renderer
        self.augmentation = augmentation
        self.seed = seed
        self.threads = max(1, threads)
        self.prefetch = max(1, prefetch)
    }

    deinit { cancel() }

    /// Starts preparing `batches` (lists of dataset indices) for `epoch` in the background.
    public func start(epoch: Int, batches: [[Int]]) {
        cancel()
        condition.lock()
        ready = [:]
        nextToHand = 0
        total = batches.count
        cancelled = false
        condition.unlock()
        let thread = Thread { [self] in produce(epoch: epoch, batches: batches) }
        thread.name = "keypoints.loader"
        thread.start()
    }

    /// The next batch in order, waiting for it if needed; nil after the last one.
    public func next() -> LoadedBatch? {
        condition.lock()
        defer { condition.unlock() }
        guard nextToHand < total else { return nil }
        while ready[nextToHand] == nil && !cancelled { condition.wait() }
        guard let batch = ready.removeValue(forKey: nextToHand) else { return nil }
        nextToHand += 1
        condition.broadcast()
        return batch
    }

    /// Stops the background work of the current pass.
    public func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    private func produce(epoch: Int, batches: [[Int]]) {
        for (b, indices) in batches.enumerated() {
            condition.lock()
            while !cancelled && b >= nextToHand + prefetch { condition.wait() }
            let stop = cancelled
            condition.unlock()
            if stop { return }
            let batch = load(epoch: epoch, indices: indices)
            condition.lock()
            if cancelled { condition.unlock(); return }
            ready[b] = batch
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Renders one batch, samples spread over the threads.
    public func load(epoch: Int, indices: [Int]) -> LoadedBatch {
        let results = UnsafeResults(count: indices.count)
        let workers = min(threads, indices.count)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            while i < indices.count {
                let index = indices[i]
                do {
                    let (image, keypoints, visibility) = try source(index)
                    let aug = augmentation.draw(seed: seed, epoch: epoch, index: index)
                    results.set(i, .success(renderer.render(image, keypoints: keypoints, visibility: visibility, augmentation: aug)))
                } catch let e as DataError {
                    results.set(i, .failure(e))
                } catch {
                    results.set(i, .failure(DataError("sample \(index)", "\(error)")))
                }
                i += workers
            }
        }
        var batch = LoadedBatch(images: [], targets: [], mask: [], indices: [], failures: [])
        for (i, r) in results.values.enumerated() {
            switch r {
            case .success(let s):
                batch.images += s.pixels; batch.targets += s.targets; batch.mask += s.mask
                batch.indices.append(indices[i])
            case .failure(let e):
                batch.failures.append(e)
            case .none:
                break
            }
        }
        return batch
    }
}

/// Per-slot results written by concurrent workers (each slot by exactly one worker).
private final class UnsafeResults: @unchecked Sendable {
    var values: [Result<RenderedSample, DataError>?]
    private let lock = NSLock()
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<RenderedSample, DataError>) {
        lock.lock(); values[i] = r; lock.unlock()
    }
}
