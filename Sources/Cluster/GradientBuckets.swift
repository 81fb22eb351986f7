// How a worker cuts one micro-batch's gradient into buckets that leave while backward still runs
// (as PyTorch DDP's gradient buckets do): runs of whole parameter tensors, from the end of the flat
// buffer (the head and the last blocks, whose gradients backward computes first) to its start.
// Coordinator and worker derive the same plan from the layout, the wire precision and the bucket
// size the welcome carries, so every bucket's frame size is known before it arrives.
import Model

/// The buckets of one parameter layout at one wire precision.
///
/// Bucket 0 holds the first tensors of the layout (the first convolutions, whose gradients are
/// final last) and travels in the `gradients` message with the BN statistics; buckets 1...
/// travel before it, each in a `gradientBucket` message, the highest index (the end of the
/// buffer) first. With one bucket the gradient travels whole in `gradients`, as before protocol v6.
public struct GradientBuckets: Sendable, Equatable {
    /// The default bucket size, bytes of wire frame: small enough that the head's and the last
    /// blocks' gradients leave early in a MobileNet backward, large enough that the per-message
    /// cost (a header, a CRC-32C) stays negligible. PyTorch DDP's first bucket is 1 MB too.
    public static let defaultBytes = 1 << 20

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
