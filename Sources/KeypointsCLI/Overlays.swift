// Pictures of predictions as files: one PNG per image (drawn by `RGBImage.withPredictions`) and a
// contact sheet of the worst images.
import Data
import Foundation

enum Overlays {
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
