// 2-D affine transforms of continuous pixel coordinates, shared by resizing and augmentation so
// that pixels and keypoints always move by the same matrix.
import Foundation

/// The affine map (x, y) -> (a x + b y + c, d x + e y + f). Coordinates are continuous pixels:
/// (0, 0) is the top-left corner of the top-left pixel, pixel (i, j) covers [i, i+1) x [j, j+1).
public struct Affine: Sendable, Equatable {
    public var a: Double, b: Double, c: Double
    public var d: Double, e: Double, f: Double

    public init(a: Double, b: Double, c: Double, d: Double, e: Double, f: Double) {
        self.a = a; self.b = b; self.c = c; self.d = d; self.e = e; self.f = f
    }

    public static let identity = Affine(a: 1, b: 0, c: 0, d: 0, e: 1, f: 0)

    public static func translation(_ tx: Double, _ ty: Double) -> Affine { Affine(a: 1, b: 0, c: tx, d: 0, e: 1, f: ty) }
    public static func scale(_ sx: Double, _ sy: Double) -> Affine { Affine(a: sx, b: 0, c: 0, d: 0, e: sy, f: 0) }
    /// Counter-clockwise on screen for positive `radians` (y points down).
    public static func rotation(_ radians: Double) -> Affine {
        Affine(a: cos(radians), b: sin(radians), c: 0, d: -sin(radians), e: cos(radians), f: 0)
    }
    /// Horizontal shear: x += k y.
    public static func shear(_ k: Double) -> Affine { Affine(a: 1, b: k, c: 0, d: 0, e: 1, f: 0) }

    /// `self` applied after `first`: (self ∘ first)(p) = self(first(p)).
    public func after(_ first: Affine) -> Affine {
        Affine(a: a * first.a + b * first.d, b: a * first.b + b * first.e, c: a * first.c + b * first.f + c,
               d: d * first.a + e * first.d, e: d * first.b + e * first.e, f: d * first.c + e * first.f + f)
    }

    /// The same transform about the point (cx, cy) instead of the origin.
    public func about(_ cx: Double, _ cy: Double) -> Affine {
        Affine.translation(cx, cy).after(self).after(.translation(-cx, -cy))
    }

    public func apply(_ x: Double, _ y: Double) -> (x: Double, y: Double) {
        (a * x + b * y + c, d * x + e * y + f)
    }

    public var inverse: Affine {
        let det = a * e - b * d
        precondition(abs(det) > 1e-12, "affine transform is not invertible")
        let ia = e / det, ib = -b / det, id = -d / det, ie = a / det
        return Affine(a: ia, b: ib, c: -(ia * c + ib * f), d: id, e: ie, f: -(id * c + ie * f))
    }

    /// Maps keypoints [2K] (x1, y1, ...) in place.
    public func apply(keypoints: inout [Float]) {
        for k in 0..<(keypoints.count / 2) {
            let p = apply(Double(keypoints[2 * k]), Double(keypoints[2 * k + 1]))
            keypoints[2 * k] = Float(p.x)
            keypoints[2 * k + 1] = Float(p.y)
        }
    }
}
