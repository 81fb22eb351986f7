// The samples a worker holds in memory (encoded images and labels, sent once by the coordinator),
// seen by the batch loader as a sample source, exactly like a dataset read from disk.
import Data
import Foundation

public final class SampleStore: @unchecked Sendable {
    private struct Held {
        var image: Foundation.Data
        var keypoints: [Float]
        var visibility: [UInt8]
        var path: String
    }
    private var samples: [Int: Held] = [:]
    private let lock = NSLock()

    public init() {}

    /// Keeps sample `index`: encoded image bytes, keypoints [2K] in its pixels, visibility [K].
    public func keep(index: Int, image: Foundation.Data, keypoints: [Float], visibility: [UInt8], path: String) {
        lock.lock(); defer { lock.unlock() }
        samples[index] = Held(image: image, keypoints: keypoints, visibility: visibility, path: path)
    }

    /// The indices among `indices` that this store was never sent.
    public func missing(_ indices: [Int]) -> [Int] {
        lock.lock(); defer { lock.unlock() }
        return indices.filter { samples[$0] == nil }
    }

    /// The loader's view: decodes a held sample (a corrupt image is a `DataError` naming its path).
    public var source: BatchLoader.SampleSource {
        { [self] index in
            lock.lock()
            let held = samples[index]
            lock.unlock()
            guard let held else { throw DataError("sample \(index)", "never sent to this worker") }
            return (try ImageCodec.decode(held.image, path: held.path), held.keypoints, held.visibility)
        }
    }
}
