// Test data: images of a coloured quadrilateral on a textured background, labelled with its 4
// corners, deterministic from a seed (the product's own generated set is Data's SyntheticCards).
import Compute
import Data
import Model
#if canImport(Glibc)
import Glibc
#endif

/// One labelled image. Pixels are RGB bytes, row-major [H, W, 3]; keypoints are (x, y) pairs in
/// pixels of this image, continuous coordinates with (0, 0) at the top-left corner of the top-left pixel.
public struct KeypointSample: Sendable {
    public var width: Int
    public var height: Int
    public var rgb: [UInt8]
    /// [2K] = x1, y1, ..., xK, yK in pixels.
    public var keypoints: [Float]
    /// [K]: 0 not labelled, 1 labelled but occluded, 2 visible (COCO convention).
    public var visibility: [UInt8]

    /// Network input: [3, H, W] plain, each pixel normalised as the network expects (``InputNormalization``).
    public func normalizedCHW() -> [Float] {
        let plane = width * height
        var out = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 { out[c * plane + i] = InputNormalization.input(fromPixel: Float(rgb[3 * i + c])) }
        }
        return out
    }
}

/// Generates `count` samples of size `size` x `size` with K = 4 corners in the order
/// top-left, top-right, bottom-right, bottom-left (before a rotation of at most 25 degrees).
public struct SyntheticQuads: Sendable {
    public let size: Int
    public let seed: UInt64
    public static let keypointNames = SyntheticCards.keypointNames

    public init(size: Int, seed: UInt64 = 1) {
        self.size = size
        self.seed = seed
    }

    /// Sample `index`; the same (seed, index) always gives the same image.
    public func sample(_ index: Int) -> KeypointSample {
        var rng = SplitMix64(seed: seed ^ 0x5EED_0FC0_A2D5, stream: UInt64(index))
        let s = Float(size)
        // The quad: a jittered, rotated rectangle well inside the frame.
        let cx = s * rng.uniform(0.38, 0.62), cy = s * rng.uniform(0.38, 0.62)
        let hw = s * rng.uniform(0.16, 0.30), hh = s * rng.uniform(0.16, 0.30)
        let angle = rng.uniform(-25, 25) * Float.pi / 180
        let base: [(Float, Float)] = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
        var corners: [Float] = []
        for (bx, by) in base {
            let jx = bx + s * rng.uniform(-0.04, 0.04), jy = by + s * rng.uniform(-0.04, 0.04)
            corners.append(cx + jx * cos(angle) - jy * sin(angle))
            corners.append(cy + jx * sin(angle) + jy * cos(angle))
        }
        // Colours: a background gradient and a card of the opposite brightness, so it always stands out.
        let darkCard = rng.uniform(0, 1) < 0.5
        let bgRange: (Float, Float) = darkCard ? (110, 255) : (0, 145)
        let cardRange: (Float, Float) = darkCard ? (0, 70) : (185, 255)
        let bg0 = rng.colour(in: bgRange), bg1 = rng.colour(in: bgRange), card = rng.colour(in: cardRange)
        let stripe = rng.uniform(0, 1) < 0.5
        var rgb = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            for x in 0..<size {
                let px = Float(x) + 0.5, py = Float(y) + 0.5
                let inside = Self.contains(corners, px, py)
                let t = (px + py) / (2 * s)
                for c in 0..<3 {
                    var v: Float
                    if inside {
                        v = card[c] + (stripe && (Int(px + py) / 6) % 2 == 0 ? -25 : 0)
                    } else {
                        v = bg0[c] * (1 - t) + bg1[c] * t
                    }
                    v += rng.uniform(-12, 12)
                    rgb[(y * size + x) * 3 + c] = UInt8(max(0, min(255, v)))
                }
            }
        }
        return KeypointSample(width: size, height: size, rgb: rgb, keypoints: corners, visibility: [2, 2, 2, 2])
    }

    /// Point-in-convex-polygon by the sign of cross products along the edges.
    static func contains(_ p: [Float], _ x: Float, _ y: Float) -> Bool {
        var sign: Float = 0
        for i in 0..<4 {
            let j = (i + 1) % 4
            let cross = (p[2 * j] - p[2 * i]) * (y - p[2 * i + 1]) - (p[2 * j + 1] - p[2 * i + 1]) * (x - p[2 * i])
            if cross != 0 {
                if sign == 0 { sign = cross } else if (cross > 0) != (sign > 0) { return false }
            }
        }
        return true
    }
}

extension SplitMix64 {
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * nextUnit() }
    mutating func colour(in range: (Float, Float)) -> [Float] {
        [uniform(range.0, range.1), uniform(range.0, range.1), uniform(range.0, range.1)]
    }
}
