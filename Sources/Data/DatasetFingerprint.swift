// A stable fingerprint of a dataset's content (label file, description file, and every image's
// bytes), stored in checkpoints so that resuming on different data is noticed while a copy of the
// same data (new paths of the dataset folder, new modification times) is not. Image hashes are
// cached by path, size and modification time, so each image is read once. Includes a small SHA-256
// (FIPS 180-4).
import Foundation

/// The fingerprint is SHA-256, chosen over a 64-bit FNV-1a because it costs little here, leaves no
/// practical chance that two different datasets collide, and needs no other package. The hashed
/// stream of v2, with every number as 8 little-endian bytes and every string or file as its length
/// followed by its bytes:
///
///     "keypoints-dataset-fingerprint-v2",
///     labels file, description file (0 when none, else 1 and the file), record count,
///     then per record in record order: image path relative to the labels file's folder (absolute when
///     outside it), then the SHA-256 of the image file's bytes.
///
/// It notices a changed label byte, an added, removed, renamed or reordered image, and any changed
/// image byte; nothing else (where the dataset lives, file times, the current folder) enters it. v1
/// hashed sizes and modification times instead of image bytes: `computeV1` still computes it, so
/// that runs recorded with it resume.
public enum DatasetFingerprint {
    /// The content fingerprint of `set` (its `sourceFile` and records' images) as 64 lowercase hex
    /// digits. Image hashes come from `cache` when an image's size and modification time match, and
    /// are added to it otherwise.
    /// - Parameter descriptionFile: the description file that was merged into the labels, if any.
    /// - Throws: `DataError` naming an image or file that cannot be read, and the record it came from.
    public static func compute(_ set: LabelSet, descriptionFile: String? = nil, cache: inout ImageHashCache) throws -> String {
        var hash = SHA256()
        hash.update(Array("keypoints-dataset-fingerprint-v2".utf8))
        try hashFiles(&hash, set, descriptionFile)
        for record in set.records {
            hash.update(counted: Foundation.Data(key(record, set).utf8))
            let (size, modified) = try identity(record)
            if let known = cache.hash(of: record.imagePath, size: size, modified: modified) {
                hash.update(counted: known)
                continue
            }
            guard let bytes = try? Foundation.Data(contentsOf: URL(fileURLWithPath: record.imagePath)) else {
                throw DataError(record.imagePath, "image cannot be read (labelled at \(record.source)): check "
                    + "that it is a file you may read")
            }
            let digest = Foundation.Data(SHA256.hash(bytes))
            cache.store(digest, for: record.imagePath, size: size, modified: modified, bytes: bytes.count)
            hash.update(counted: digest)
        }
        return hex(hash.finalize())
    }

    /// The v1 fingerprint (image sizes and modification times instead of their bytes), for runs
    /// recorded before v2.
    public static func computeV1(_ set: LabelSet, descriptionFile: String? = nil) throws -> String {
        var hash = SHA256()
        hash.update(Array("keypoints-dataset-fingerprint-v1".utf8))
        hash.update(number: 0)
        try hashFiles(&hash, set, descriptionFile)
        for record in set.records {
            hash.update(counted: Foundation.Data(key(record, set).utf8))
            let (size, modified) = try identity(record)
            hash.update(number: size)
            hash.update(number: modified.bitPattern)
        }
        return hex(hash.finalize())
    }

    private static func hashFiles(_ hash: inout SHA256, _ set: LabelSet, _ descriptionFile: String?) throws {
        hash.update(counted: try LabelFiles.contents(of: set.sourceFile))
        if let descriptionFile {
            hash.update(number: 1)
            hash.update(counted: try LabelFiles.contents(of: descriptionFile, what: "description file"))
        } else {
            hash.update(number: 0)
        }
        hash.update(number: UInt64(set.records.count))
        // A YOLO-pose dataset's labels are in one txt per image, not in the YAML: its records' keypoints
        // are hashed too (other formats keep the fingerprint they always had).
        if YOLOPoseLabels.isDataset(set.sourceFile) {
            for record in set.records {
                hash.update(counted: Foundation.Data(record.keypoints.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
                                                     + record.visibility))
            }
        }
    }

    /// The image's path relative to the labels file's folder (absolute when outside it).
    private static func key(_ record: LabelRecord, _ set: LabelSet) -> String {
        LabelPaths.relative(record.imagePath, to: LabelPaths.folder(of: set.sourceFile)) ?? LabelPaths.absolute(record.imagePath)
    }

    /// Size in bytes and modification time (seconds since 1970) of the record's image.
    private static func identity(_ record: LabelRecord) throws -> (UInt64, Double) {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: record.imagePath) } catch {
            throw DataError(record.imagePath, "image not found (labelled at \(record.source)): check the path, or fix the labels")
        }
        return ((attributes[.size] as? NSNumber)?.uint64Value ?? 0,
                (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
    }

    /// Lowercase hex of a digest.
    static func hex(_ digest: some Sequence<UInt8>) -> String { digest.map { String(format: "%02x", $0) }.joined() }
}

/// SHA-256 digests of image files keyed by absolute path, valid while the file's size and
/// modification time are unchanged. Kept in the run folder (`image-hashes.json`) so that a run
/// reads its images for the fingerprint once; a missing or unreadable cache is simply rebuilt.
public struct ImageHashCache: Codable, Sendable {
    struct Entry: Codable, Sendable {
        var size: UInt64
        var modified: Double
        var sha256: String
    }
    private var entries: [String: Entry] = [:]
    /// Images hashed (read) since this cache was loaded, and their bytes.
    public private(set) var hashed = (images: 0, bytes: 0)
    /// Images whose hash came from the cache.
    public private(set) var reused = 0

    public init() {}

    private enum CodingKeys: String, CodingKey { case entries }

    /// The cache at `url`, or an empty one when it is missing or not readable.
    public static func load(_ url: URL) -> ImageHashCache {
        guard let data = FileManager.default.contents(atPath: url.path),
              let cache = try? JSONDecoder().decode(ImageHashCache.self, from: data) else { return ImageHashCache() }
        return cache
    }

    /// Encoded for `url` (the caller writes it: a cache that cannot be written costs only time).
    public func encoded() throws -> Foundation.Data { try JSONEncoder().encode(self) }

    mutating func hash(of path: String, size: UInt64, modified: Double) -> Foundation.Data? {
        let key = LabelPaths.absolute(path)
        guard let e = entries[key], e.size == size, e.modified == modified, let digest = Self.bytes(hex: e.sha256) else { return nil }
        reused += 1
        return digest
    }

    mutating func store(_ digest: Foundation.Data, for path: String, size: UInt64, modified: Double, bytes: Int) {
        entries[LabelPaths.absolute(path)] = Entry(size: size, modified: modified, sha256: DatasetFingerprint.hex(digest))
        hashed.images += 1
        hashed.bytes += bytes
    }

    private static func bytes(hex: String) -> Foundation.Data? {
        let chars = Array(hex.utf8)
        guard chars.count == 64 else { return nil }
        var out = Foundation.Data(capacity: 32)
        for i in stride(from: 0, to: 64, by: 2) {
            guard let b = UInt8(String(decoding: chars[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }
}

/// SHA-256 as specified in FIPS 180-4, fed incrementally.
struct SHA256 {
    private var state: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var pending: [UInt8] = []   // < 64 bytes not yet compressed
    private var length: UInt64 = 0      // bytes compressed so far

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// The digest of `bytes` in one call.
    static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }

    /// The digest of a file's bytes, compressed straight from the buffer.
    static func hash(_ data: Foundation.Data) -> [UInt8] {
        var h = SHA256()
        h.update(data)
        return h.finalize()
    }

    mutating func update(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            pending.append(byte)
            if pending.count == 64 { flush() }
        }
    }

    /// As `update(_:)`, compressing whole blocks straight from the buffer (for image files).
    mutating func update(_ data: Foundation.Data) {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var i = 0
            while i < raw.count && !pending.isEmpty {
                pending.append(raw[i]); i += 1
                if pending.count == 64 { flush() }
            }
            while raw.count - i >= 64 {
                compress(UnsafeRawBufferPointer(rebasing: raw[i..<(i + 64)]))
                length &+= 64
                i += 64
            }
            pending.append(contentsOf: raw[i...])
        }
    }

    /// `value` as 8 little-endian bytes.
    mutating func update(number value: UInt64) {
        update((0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
    }

    /// The byte count of `bytes`, then the bytes: keeps consecutive fields from running into each other.
    mutating func update(counted bytes: Foundation.Data) {
        update(number: UInt64(bytes.count))
        update(bytes)
    }

    /// The 32-byte digest; the hasher must not be used afterwards.
    mutating func finalize() -> [UInt8] {
        let bits = (length &+ UInt64(pending.count)) &* 8
        var tail: [UInt8] = [0x80]
        while (pending.count + tail.count) % 64 != 56 { tail.append(0) }
        tail += (0..<8).map { UInt8(truncatingIfNeeded: bits >> (56 - 8 * $0)) }
        update(tail)
        precondition(pending.isEmpty)
        return state.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - 8 * $0)) } }
    }

    private mutating func flush() {
        let block = pending
        block.withUnsafeBytes { compress($0) }
        length &+= 64
        pending.removeAll(keepingCapacity: true)
    }

    /// One 64-byte block into `state`.
    private mutating func compress(_ block: UnsafeRawBufferPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            compress(block, schedule: w)
        }
    }

    private mutating func compress(_ block: UnsafeRawBufferPointer, schedule w: UnsafeMutableBufferPointer<UInt32>) {
        for t in 0..<16 {
            w[t] = UInt32(block[4 * t]) << 24 | UInt32(block[4 * t + 1]) << 16
                | UInt32(block[4 * t + 2]) << 8 | UInt32(block[4 * t + 3])
        }
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
        for t in 16..<64 {
            let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
            let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }
        var a = state[0], b = state[1], c = state[2], d = state[3]
        var e = state[4], f = state[5], g = state[6], h = state[7]
        for t in 0..<64 {
            let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ (e & f ^ ~e & g) &+ Self.k[t] &+ w[t]
            let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ (a & b ^ a & c ^ b & c)
            h = g; g = f; f = e; e = d &+ t1
            d = c; c = b; b = a; a = t1 &+ t2
        }
        state[0] &+= a; state[1] &+= b; state[2] &+= c; state[3] &+= d
        state[4] &+= e; state[5] &+= f; state[6] &+= g; state[7] &+= h
    }
}
