// A realistic generated keypoint dataset: textured cards seen in perspective on cluttered
// backgrounds, with uneven lighting, noise, blur and partial occlusion; the four card corners are
// the keypoints, in the order top-left, top-right, bottom-right, bottom-left.
import Compute
import Foundation

/// Generates labelled card images. Image `index` depends only on (seed, index).
public struct SyntheticCards: Sendable {
    /// Image width in pixels; height is 3/4 of it (a 4:3 landscape photo).
    public let size: Int
    public let seed: UInt64
    public static let keypointNames = ["top_left", "top_right", "bottom_right", "bottom_left"]

    public init(size: Int, seed: UInt64 = 1) {
        self.size = size
        self.seed = seed
    }

    public var width: Int { size }
    public var height: Int { size * 3 / 4 }

    /// The image and its labels: keypoints [8] in pixels, visibility [4] (2 visible, 1 occluded).
    public func sample(_ index: Int) -> (image: RGBImage, keypoints: [Float], visibility: [UInt8]) {
        var rng = SplitMix64(seed: seed ^ 0xCA4D_5EED, stream: UInt64(index))
        let w = Double(width), h = Double(height)
        func u(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * Double(rng.nextUnit()) }

        // The card: an ID-card-shaped rectangle, rotated, with each corner pushed for perspective;
        // drawn again (a bounded number of times, then shrunk) until every corner is in the image.
        var corners: [Double] = []
        for attempt in 0..<20 {
            let cx = w * u(0.35, 0.65), cy = h * u(0.35, 0.65)
            let halfW = w * u(0.17, 0.30) * (attempt < 19 ? 1 : 0.5), halfH = halfW * u(0.55, 0.75)
            let angle = u(-0.45, 0.45)
            corners = []
            for (bx, by) in [(-halfW, -halfH), (halfW, -halfH), (halfW, halfH), (-halfW, halfH)] {
                let px = bx * u(0.85, 1.15), py = by * u(0.85, 1.15)
                corners.append(cx + px * cos(angle) - py * sin(angle))
                corners.append(cy + px * sin(angle) + py * cos(angle))
            }
            let inside = (0..<4).allSatisfy { k in
                corners[2 * k] > 2 && corners[2 * k] < w - 2 && corners[2 * k + 1] > 2 && corners[2 * k + 1] < h - 2
            }
            if inside { break }
        }
        let toCard = Homography.squareTo(corners).inverse

        // Background clutter: a gradient plus random rectangles and discs.
        let bgA = colour(&rng), bgB = colour(&rng)
        var shapes: [(kind: Int, x: Double, y: Double, rx: Double, ry: Double, c: [Double])] = []
        for _ in 0..<Int(u(3, 9)) {
            shapes.append((Int(u(0, 2)), w * u(0, 1), h * u(0, 1), w * u(0.03, 0.18), h * u(0.03, 0.18), colour(&rng)))
        }
        // The card's look: base colour, stripe or checker pattern, a dark "text" band.
        let base = colour(&rng), accent = colour(&rng)
        let pattern = Int(u(0, 3)), frequency = u(4, 12)
        // Lighting: a linear gain across the image.
        let gain0 = u(0.6, 1.0), gain1 = u(1.0, 1.35), lightAngle = u(0, 2 * .pi)
        // Occlusion: sometimes a disc over one corner.
        var occluder: (x: Double, y: Double, r: Double, c: [Double])?
        if u(0, 1) < 0.3 {
            let k = Int(u(0, 4))
            occluder = (corners[2 * k] + u(-0.03, 0.03) * w, corners[2 * k + 1] + u(-0.03, 0.03) * w, w * u(0.03, 0.07), colour(&rng))
        }

        var image = RGBImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let px = Double(x) + 0.5, py = Double(y) + 0.5
                var c: [Double]
                let (tu, tv) = toCard.apply(px, py)
                if tu >= 0, tu <= 1, tv >= 0, tv <= 1 {
                    let band = tv > 0.62 && tv < 0.72 && tu > 0.1 && tu < 0.8
                    let on: Bool
                    switch pattern {
                    case 0: on = Int(tu * frequency) % 2 == 0
                    case 1: on = (Int(tu * frequency) + Int(tv * frequency)) % 2 == 0
                    default: on = false
                    }
                    c = band ? [20, 20, 30] : (on ? mix(base, accent, 0.35) : base)
                } else {
                    let t = (px / w + py / h) / 2
                    c = mix(bgA, bgB, t)
                    for s in shapes {
                        let dx = (px - s.x) / s.rx, dy = (py - s.y) / s.ry
                        if s.kind == 0 ? (abs(dx) < 1 && abs(dy) < 1) : (dx * dx + dy * dy < 1) { c = s.c }
                    }
                }
                if let o = occluder, (px - o.x) * (px - o.x) + (py - o.y) * (py - o.y) < o.r * o.r { c = o.c }
                let along = ((px / w - 0.5) * cos(lightAngle) + (py / h - 0.5) * sin(lightAngle)) + 0.5
                let g = gain0 + (gain1 - gain0) * along
                let i = 3 * (y * width + x)
                for ch in 0..<3 {
                    let v = c[ch] * g + Double(rng.nextNormal()) * 6
                    image.pixels[i + ch] = UInt8(max(0, min(255, v)))
                }
            }
        }
        var visibility: [UInt8] = [2, 2, 2, 2]
        if let o = occluder {
            for k in 0..<4 where hypot(corners[2 * k] - o.x, corners[2 * k + 1] - o.y) < o.r { visibility[k] = 1 }
        }
        return (image, corners.map { Float($0) }, visibility)
    }

    private func colour(_ rng: inout SplitMix64) -> [Double] {
        [Double(rng.nextUnit()) * 255, Double(rng.nextUnit()) * 255, Double(rng.nextUnit()) * 255]
    }

    private func mix(_ a: [Double], _ b: [Double], _ t: Double) -> [Double] {
        [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
    }
}

/// A plane projective transform (3x3 matrix, row-major, h[8] = 1 after normalisation).
struct Homography {
    var m: [Double]

    /// The map from the unit square (0,0), (1,0), (1,1), (0,1) onto the quad `q` = [x0,y0,...,x3,y3]
    /// (Heckbert's closed form for square-to-quadrilateral).
    static func squareTo(_ q: [Double]) -> Homography {
        let (x0, y0, x1, y1, x2, y2, x3, y3) = (q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7])
        let sx = x0 - x1 + x2 - x3, sy = y0 - y1 + y2 - y3
        let dx1 = x1 - x2, dx2 = x3 - x2, dy1 = y1 - y2, dy2 = y3 - y2
        let den = dx1 * dy2 - dx2 * dy1
        let g = (sx * dy2 - dx2 * sy) / den, hh = (dx1 * sy - sx * dy1) / den
        return Homography(m: [x1 - x0 + g * x1, x3 - x0 + hh * x3, x0,
                              y1 - y0 + g * y1, y3 - y0 + hh * y3, y0,
                              g, hh, 1])
    }

    func apply(_ x: Double, _ y: Double) -> (Double, Double) {
        let w = m[6] * x + m[7] * y + m[8]
        return ((m[0] * x + m[1] * y + m[2]) / w, (m[3] * x + m[4] * y + m[5]) / w)
    }

    var inverse: Homography {
        let a = m
        let c00 = a[4] * a[8] - a[5] * a[7], c01 = a[5] * a[6] - a[3] * a[8], c02 = a[3] * a[7] - a[4] * a[6]
        let det = a[0] * c00 + a[1] * c01 + a[2] * c02
        return Homography(m: [c00 / det, (a[2] * a[7] - a[1] * a[8]) / det, (a[1] * a[5] - a[2] * a[4]) / det,
                              c01 / det, (a[0] * a[8] - a[2] * a[6]) / det, (a[2] * a[3] - a[0] * a[5]) / det,
                              c02 / det, (a[1] * a[6] - a[0] * a[7]) / det, (a[0] * a[4] - a[1] * a[3]) / det])
    }
}
