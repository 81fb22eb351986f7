// How parameter-sized buffers are cut into buckets that travel while the network still computes:
// runs of whole parameter tensors. A worker sends a micro-batch's gradient bucket by bucket while
// backward runs (as PyTorch DDP's gradient buckets do), the end of the flat buffer first (the head
// and the last blocks, whose gradients backward computes first); the coordinator sends the weights
// bucket by bucket from the start (conv1 first), and a worker's forward starts on the first ones
// while the rest arrive. Coordinator and worker derive the same plan from the layout, the wire
// precision and the bucket size the welcome carries, so every bucket's frame size is known before
// it arrives.
import Model

/// The buckets of one parameter layout at one wire precision.
///
/// Bucket 0 holds the first tensors of the layout (the first convolutions, whose gradients are
/// final last and whose weights the forward needs first). Gradients: bucket 0 travels in the
/// `gradients` message with the BN batch statistics; buckets 1... travel before it, each in a
/// `gradientBucket` message, the highest index (the end of the buffer) first. Weights: one
/// `weights` message per bucket, bucket 0 (with the BN running statistics) first. With one bucket
/// both travel whole, as before protocol v6.
public struct ParameterBuckets: Sendable, Equatable {
    /// The default bucket size, bytes of wire frame: small enough that the head's and the last
    /// blocks' gradients leave early in a MobileNet backward and that the forward starts long
    /// before the last weights arrive, large enough that the per-message cost (a header, a
    /// CRC-32C) stays negligible. PyTorch DDP's first bucket is 1 MB too.
    public static let defaultBytes = 1 << 20
    /// A bucket size no layout reaches: one bucket, weights and gradients whole.
    public static let whole = Int.max

    /// Each bucket's parameter tensors, as a range of tensor indices in layout order; bucket b
    /// ends where bucket b + 1 starts, bucket 0 starts at tensor 0, the last ends at the last tensor.
    public let tensors: [Range<Int>]
    /// Each bucket's frame size in bytes at the wire precision.
    public let frameBytes: [Int]

    /// Cuts `wire`'s tensors into buckets of at least `bytes` bytes of frame each, walking from
    /// the last tensor back: a bucket closes at the first tensor boundary where it reaches `bytes`
    /// (a tensor larger than that is a bucket of its own); what is left at the start is bucket 0.
    public init(wire: WireFloats, bytes: Int) {
        var cuts: [Range<Int>] = []
        var end = wire.tensorCount, size = 0
        for t in stride(from: wire.tensorCount - 1, through: 0, by: -1) {
            size += wire.frameBytes(tensors: t..<(t + 1))
            if size >= bytes && t > 0 {
                cuts.append(t..<end)
                end = t
                size = 0
            }
        }
        cuts.append(0..<end)
        tensors = cuts.reversed()
        frameBytes = tensors.map { wire.frameBytes(tensors: $0) }
    }

    public var count: Int { tensors.count }

    /// The buckets holding any of the first `t` tensors, in order (the weights a forward that asked
    /// for tensors 0..<t needs).
    func needed(for t: Int) -> [Int] { tensors.indices.filter { tensors[$0].lowerBound < t } }

    /// The buckets whose tensors all lie at or after tensor `first` (their gradients are final
    /// once backward has passed it), bucket 0 excluded, highest first.
    func ready(from first: Int, after sent: Int) -> [Int] {
        var out: [Int] = []
        var b = sent - 1
        while b >= 1 && tensors[b].lowerBound >= first {
            out.append(b)
            b -= 1
        }
        return out
    }
}
