// Pictures of predictions: keypoints drawn on the original image (ground truth and prediction
// distinguished, the error as a line) and a contact sheet of the worst images.
import Data
import Foundation

enum Overlays {
    /// Predictions as filled discs in each keypoint's colour (black outline), joined by the skeleton;
    /// with ground truth, white rings at the true positions and a yellow line for each error.
    static func draw(_ image: RGBImage, predicted: [Float], truth: [Float]? = nil, visible: [Bool]? = nil,
                     skeleton: [[Int]] = []) -> RGBImage {
        var out = image
        let k = predicted.count / 2
        let r = max(2.5, Double(min(image.width, image.height)) / 60)
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

    /// Writes `image` as PNG to `dir/<name>.png`.
    static func write(_ image: RGBImage, name: String, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let base = ((name as NSString).lastPathComponent as NSString).deletingPathExtension
        try ImageCodec.encodePNG(image).write(to: URL(fileURLWithPath: dir).appendingPathComponent("\(base).png"))
    }

    /// Tiles of `side` pixels, `columns` wide.
    static func contactSheet(_ images: [RGBImage], side: Int = 256) -> RGBImage {
        let columns = Int(Double(images.count).squareRoot().rounded(.up))
        return RGBImage.grid(images.map { $0.fitted(into: side) }, columns: max(1, columns))
    }
}
