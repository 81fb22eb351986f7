// The coordinator's side of gradient buckets: each worker's buckets of a micro-batch, widened into
// one f32 buffer as they arrive, until the gradients message brings bucket 0 and completes it.
// Only micro-batches of the current step that a worker was given are ever held, so a peer can
// make the coordinator hold at most one parameter-sized buffer per micro-batch it holds.

/// Micro-batch gradients being received bucket by bucket, per worker.
struct GradientAssembly {
    let wire: WireFloats
    let buckets: ParameterBuckets
    /// Per worker and micro-batch: the buffer so far (P floats) and the buckets in it.
    private var partial: [PeerID: [Int: (values: [Float], received: Set<Int>)]] = [:]

    init(wire: WireFloats, buckets: ParameterBuckets) {
        self.wire = wire
        self.buckets = buckets
    }

    /// Widens `frame`, bucket `bucket` of `microBatch` from `peer`, into that micro-batch's buffer;
    /// what is wrong with it (a bucket that does not exist, came twice, or has the wrong size), or nil.
    mutating func add(bucket: Int, of microBatch: Int, from peer: PeerID, frame: Frame) -> String? {
        guard (1..<buckets.count).contains(bucket) else { return "bucket \(bucket), which the layout does not have" }
        var entry = partial[peer]?[microBatch] ?? ([Float](repeating: 0, count: wire.count), [])
        guard !entry.received.contains(bucket) else { return "bucket \(bucket) a second time" }
        let ok = entry.values.withUnsafeMutableBufferPointer { wire.decode(frame, tensors: buckets.tensors[bucket], into: $0.baseAddress!) }
        guard ok else { return "bucket \(bucket) of \(frame.count) bytes, not the \(buckets.frameBytes[bucket]) of its tensors" }
        entry.received.insert(bucket)
        partial[peer, default: [:]][microBatch] = entry
        return nil
    }

    /// The whole gradient of `microBatch` from `peer` once `frame` (bucket 0) completes it, its
    /// buffer released; or what is missing or wrong (the buffer is released then too).
    mutating func complete(_ microBatch: Int, from peer: PeerID, bucketZero frame: Frame) -> Result<[Float], AssemblyError> {
        var entry = partial[peer]?.removeValue(forKey: microBatch) ?? ([Float](repeating: 0, count: wire.count), [])
        if partial[peer]?.isEmpty == true { partial[peer] = nil }
        let missing = (1..<buckets.count).filter { !entry.received.contains($0) }
        guard missing.isEmpty else { return .failure(AssemblyError("without bucket(s) \(missing.map(String.init).joined(separator: ", "))")) }
        let ok = entry.values.withUnsafeMutableBufferPointer { wire.decode(frame, tensors: buckets.tensors[0], into: $0.baseAddress!) }
        guard ok else { return .failure(AssemblyError("bucket 0 of \(frame.count) bytes, not the \(buckets.frameBytes[0]) of its tensors")) }
        return .success(entry.values)
    }

    /// Drops what `peer` sent (it was removed, or its micro-batch went to another worker).
    mutating func forget(_ peer: PeerID) { partial[peer] = nil }

    /// Drops everything (a step ended: buckets of its micro-batches can no longer count).
    mutating func reset() { partial = [:] }
}

/// What is wrong with a micro-batch's buckets.
struct AssemblyError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
