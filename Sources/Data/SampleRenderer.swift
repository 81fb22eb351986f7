// Turns a decoded image and its labels into a network sample: one affine warp (resize plus
// augmentation) applied to pixels and keypoints alike, then colour changes, blur and noise.
import Compute
import Foundation
import Model

/// A network-ready sample. Pixels [3, S, S] plain, scaled to [-1, 1]; targets [2K] in [0, 1] of the
/// input frame; mask [K] (1 = labelled and inside the frame, 0 = masked from the loss).
public struct RenderedSample: Sendable {
    public var pixels: [Float]
    public var targets: [Float]
    public var mask: [Float]
    /// Original pixels -> network pixels, without augmentation (to map predictions back).
    public var mapping: FrameMapping
}

public struct SampleRenderer: Sendable {
    public let size: Int
    public let resize: ResizeMode
    public let description: DatasetDescription

    public init(size: Int, resize: ResizeMode, description: DatasetDescription) {
        self.size = size
        self.resize = resize
        self.description = description
    }

    /// Renders `image` with keypoints [2K] (original pixels) and visibility [K].
    public func render(_ image: RGBImage, keypoints: [Float], visibility: [UInt8],
                       augmentation: SampleAugmentation = SampleAugmentation()) -> RenderedSample {
        let mapping = FrameMapping(width: image.width, height: image.height, size: size, mode: resize)
        let transform = augmentation.geometry(size: size).after(mapping.transform)
        var planes = warp(image, transform)
        adjustColour(&planes, augmentation)
        if augmentation.blurSigma > 0 { blur(&planes, sigma: augmentation.blurSigma) }
        if augmentation.noise > 0 { addNoise(&planes, std: augmentation.noise, seed: augmentation.noiseSeed) }
        for i in 0..<planes.count { planes[i] = InputNormalization.input(fromPixel: planes[i]) }

        var points = keypoints
        var vis = visibility
        transform.apply(keypoints: &points)
        if augmentation.flip {
            for pair in description.flipPairs where pair.count == 2 {
                let (i, j) = (pair[0], pair[1])
                points.swapAt(2 * i, 2 * j); points.swapAt(2 * i + 1, 2 * j + 1)
                vis.swapAt(i, j)
            }
        }
        let s = Float(size)
        var mask = [Float](repeating: 0, count: vis.count)
        var targets = [Float](repeating: 0, count: points.count)
        for k in 0..<vis.count {
            let x = points[2 * k], y = points[2 * k + 1]
            let inside = x >= 0 && x < s && y >= 0 && y < s
            mask[k] = vis[k] > 0 && inside ? 1 : 0
            targets[2 * k] = x / s
            targets[2 * k + 1] = y / s
        }
        return RenderedSample(pixels: planes, targets: targets, mask: mask, mapping: mapping)
    }

    /// Samples the image through `transform` (original -> network pixels) with bilinear
    /// interpolation; outside the image is mid-grey (0 after scaling to [-1, 1]).
    /// Output: planes [3, S, S] in 0...255.
    func warp(_ image: RGBImage, _ transform: Affine) -> [Float] {
        let inv = transform.inverse
        let plane = size * size
        var out = [Float](repeating: InputNormalization.scale, count: 3 * plane)
        let w = image.width, h = image.height
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for v in 0..<size {
                    for u in 0..<size {
                        let p = inv.apply(Double(u) + 0.5, Double(v) + 0.5)
                        let fx = p.x - 0.5, fy = p.y - 0.5
                        guard fx > -1, fy > -1, fx < Double(w), fy < Double(h) else { continue }
                        let x0 = Int(fx.rounded(.down)), y0 = Int(fy.rounded(.down))
                        let tx = Float(fx - Double(x0)), ty = Float(fy - Double(y0))
                        let xa = max(x0, 0), xb = min(x0 + 1, w - 1), ya = max(y0, 0), yb = min(y0 + 1, h - 1)
                        let o = v * size + u
                        for c in 0..<3 {
                            let p00 = Float(src[3 * (ya * w + xa) + c]), p10 = Float(src[3 * (ya * w + xb) + c])
                            let p01 = Float(src[3 * (yb * w + xa) + c]), p11 = Float(src[3 * (yb * w + xb) + c])
                            let top = p00 + (p10 - p00) * tx, bottom = p01 + (p11 - p01) * tx
                            dst[c * plane + o] = top + (bottom - top) * ty
                        }
                    }
                }
            }
        }
        return out
    }

    /// Brightness (scale), contrast (about the image's mean grey) and saturation (about each
    /// pixel's grey), on planes in 0...255.
    func adjustColour(_ planes: inout [Float], _ a: SampleAugmentation) {
        guard a.brightness != 1 || a.contrast != 1 || a.saturation != 1 else { return }
        let plane = size * size
        var meanGrey: Float = 0
        for i in 0..<plane { meanGrey += 0.299 * planes[i] + 0.587 * planes[plane + i] + 0.114 * planes[2 * plane + i] }
        meanGrey = meanGrey / Float(plane) * Float(a.brightness)
        let b = Float(a.brightness), c = Float(a.contrast), s = Float(a.saturation)
        for i in 0..<plane {
            let r = planes[i] * b, g = planes[plane + i] * b, bl = planes[2 * plane + i] * b
            let grey = 0.299 * r + 0.587 * g + 0.114 * bl
            planes[i] = meanGrey + ((grey + (r - grey) * s) - meanGrey) * c
            planes[plane + i] = meanGrey + ((grey + (g - grey) * s) - meanGrey) * c
            planes[2 * plane + i] = meanGrey + ((grey + (bl - grey) * s) - meanGrey) * c
        }
    }

    /// Separable Gaussian blur, edges clamped.
    func blur(_ planes: inout [Float], sigma: Double) {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
        let sum = kernel.reduce(0, +)
        kernel = kernel.map { $0 / sum }
        let n = size, plane = n * n
        var tmp = [Float](repeating: 0, count: plane)
        for c in 0..<3 {
            let base = c * plane
            for y in 0..<n {
                for x in 0..<n {
                    var acc: Float = 0
                    for k in -radius...radius { acc += kernel[k + radius] * planes[base + y * n + min(max(x + k, 0), n - 1)] }
                    tmp[y * n + x] = acc
                }
            }
            for y in 0..<n {
                for x in 0..<n {
                    var acc: Float = 0
                    for k in -radius...radius { acc += kernel[k + radius] * tmp[min(max(y + k, 0), n - 1) * n + x] }
                    planes[base + y * n + x] = acc
                }
            }
        }
    }

    func addNoise(_ planes: inout [Float], std: Double, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let s = Float(std)
        for i in 0..<planes.count { planes[i] += s * rng.nextNormal() }
    }
}
