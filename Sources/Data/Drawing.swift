// Drawing on RGB images: keypoint markers, skeleton lines, predictions beside ground truth, and
// grids of images, for previews, overlays and TensorBoard.
import Model

/// Distinct colours for keypoints 1, 2, 3, ... (cycled).
public let keypointPalette: [(UInt8, UInt8, UInt8)] = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
]

extension RGBImage {
    /// A filled disc of `radius` pixels centred on (x, y) (continuous pixel coordinates), clipped.
    public mutating func drawDisc(x: Double, y: Double, radius: Double, colour: (UInt8, UInt8, UInt8)) {
        guard Self.drawable(x, y, radius) else { return }
        let x0 = max(0, Int(x - radius)), x1 = min(width - 1, Int(x + radius))
        let y0 = max(0, Int(y - radius)), y1 = min(height - 1, Int(y + radius))
        guard x0 <= x1, y0 <= y1 else { return }
        for py in y0...y1 {
            for px in x0...x1 {
                let dx = Double(px) + 0.5 - x, dy = Double(py) + 0.5 - y
                if dx * dx + dy * dy <= radius * radius { self[px, py] = colour }
            }
        }
    }

    /// A one-pixel line from (x0, y0) to (x1, y1), clipped.
    public mutating func drawLine(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, colour: (UInt8, UInt8, UInt8)) {
        guard Self.drawable(x0, y0, x1, y1) else { return }
        let steps = max(1, Int(max(abs(x1 - x0), abs(y1 - y0)).rounded(.up)))
        for s in 0...steps {
            let t = Double(s) / Double(steps)
            let px = Int(x0 + (x1 - x0) * t), py = Int(y0 + (y1 - y0) * t)
            if px >= 0 && px < width && py >= 0 && py < height { self[px, py] = colour }
        }
    }

    /// NOTE: a diverged model predicts NaN or 1e30: such shapes are not drawn (an Int conversion
    /// would trap); anything within 100,000 pixels is, clipped to the image.
    static func drawable(_ values: Double...) -> Bool { values.allSatisfy { $0.isFinite && abs($0) <= 100_000 } }

    /// Keypoints [2K] in this image's pixels: skeleton lines in white, then a disc per keypoint in
    /// its palette colour; masked keypoints are skipped, occluded ones drawn smaller.
    public mutating func drawKeypoints(_ keypoints: [Float], visible: [Bool], skeleton: [[Int]] = [], radius: Double = 3) {
        for edge in skeleton where edge.count == 2 && visible[edge[0]] && visible[edge[1]] {
            drawLine(Double(keypoints[2 * edge[0]]), Double(keypoints[2 * edge[0] + 1]),
                     Double(keypoints[2 * edge[1]]), Double(keypoints[2 * edge[1] + 1]), colour: (255, 255, 255))
        }
        for k in 0..<visible.count where visible[k] {
            drawDisc(x: Double(keypoints[2 * k]), y: Double(keypoints[2 * k + 1]), radius: radius + 1, colour: (0, 0, 0))
            drawDisc(x: Double(keypoints[2 * k]), y: Double(keypoints[2 * k + 1]), radius: radius,
                     colour: keypointPalette[k % keypointPalette.count])
        }
    }

    /// Same-size tiles laid out `columns` wide with a `gap`-pixel dark border.
    public static func grid(_ tiles: [RGBImage], columns: Int, gap: Int = 4) -> RGBImage {
        precondition(!tiles.isEmpty)
        let tw = tiles[0].width, th = tiles[0].height
        let rows = (tiles.count + columns - 1) / columns
        var out = RGBImage(width: columns * (tw + gap) + gap, height: rows * (th + gap) + gap, fill: (32, 32, 32))
        for (i, tile) in tiles.enumerated() {
            let ox = gap + (i % columns) * (tw + gap), oy = gap + (i / columns) * (th + gap)
            for y in 0..<th { for x in 0..<tw { out[ox + x, oy + y] = tile[x, y] } }
        }
        return out
    }

    /// An RGB image from network-input planes [3, S, S] in [-1, 1].
    public init(planes: [Float], size: Int) {
        self.init(width: size, height: size)
        let plane = size * size
        for i in 0..<plane {
            for c in 0..<3 { pixels[3 * i + c] = UInt8(InputNormalization.pixel(fromInput: planes[c * plane + i])) }
        }
    }
}

extension RGBImage {
    /// A ring (circle outline `thickness` pixels wide) centred on (x, y).
    public mutating func drawRing(x: Double, y: Double, radius: Double, thickness: Double, colour: (UInt8, UInt8, UInt8)) {
        guard Self.drawable(x, y, radius, thickness) else { return }
        let x0 = max(0, Int(x - radius - 1)), x1 = min(width - 1, Int(x + radius + 1))
        let y0 = max(0, Int(y - radius - 1)), y1 = min(height - 1, Int(y + radius + 1))
        guard x0 <= x1, y0 <= y1 else { return }
        for py in y0...y1 {
            for px in x0...x1 {
                let d = ((Double(px) + 0.5 - x) * (Double(px) + 0.5 - x) + (Double(py) + 0.5 - y) * (Double(py) + 0.5 - y)).squareRoot()
                if d <= radius && d >= radius - thickness { self[px, py] = colour }
            }
        }
    }

    /// The image mirrored left to right (x -> width - x in continuous pixel coordinates).
    public func mirrored() -> RGBImage {
        var out = self
        for y in 0..<height { for x in 0..<width { out[x, y] = self[width - 1 - x, y] } }
        return out
    }

    /// This image scaled (nearest neighbour, aspect kept) into a `side` x `side` tile on dark grey.
    public func fitted(into side: Int) -> RGBImage {
        let scale = min(Double(side) / Double(width), Double(side) / Double(height))
        let w = max(1, Int(Double(width) * scale)), h = max(1, Int(Double(height) * scale))
        let ox = (side - w) / 2, oy = (side - h) / 2
        var out = RGBImage(width: side, height: side, fill: (32, 32, 32))
        for y in 0..<h {
            for x in 0..<w {
                out[ox + x, oy + y] = self[min(width - 1, Int(Double(x) / scale)), min(height - 1, Int(Double(y) / scale))]
            }
        }
        return out
    }
}

extension RGBImage {
    /// This image with predicted keypoints [2K] (pixels of this image) as filled discs in each
    /// keypoint's colour (black outline), joined by the skeleton; with ground truth [2K] (same
    /// pixels), white rings at the true positions of the `visible` ones and a yellow line for each error.
    public func withPredictions(_ predicted: [Float], truth: [Float]? = nil, visible: [Bool]? = nil,
                                skeleton: [[Int]] = []) -> RGBImage {
        var out = self
        let k = predicted.count / 2
        let r = max(2.5, Double(min(width, height)) / 60)
        func p(_ a: [Float], _ j: Int) -> (Double, Double) { (Double(a[2 * j]), Double(a[2 * j + 1])) }
        for edge in skeleton where edge.count == 2 && edge.allSatisfy({ $0 < k }) {
            let (a, b) = (p(predicted, edge[0]), p(predicted, edge[1]))
            out.drawLine(a.0, a.1, b.0, b.1, colour: (255, 255, 255))
        }
        if let truth {
            for j in 0..<k where visible?[j] ?? true {
                let (t, q) = (p(truth, j), p(predicted, j))
                out.drawLine(t.0, t.1, q.0, q.1, colour: (255, 230, 0))
                out.drawRing(x: t.0, y: t.1, radius: r + 2, thickness: 2, colour: (255, 255, 255))
            }
        }
        for j in 0..<k {
            let (x, y) = p(predicted, j)
            out.drawDisc(x: x, y: y, radius: r + 1, colour: (0, 0, 0))
            out.drawDisc(x: x, y: y, radius: r, colour: keypointPalette[j % keypointPalette.count])
        }
        return out
    }
}
