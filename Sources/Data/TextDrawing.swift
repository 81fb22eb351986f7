// Text on RGB images, for label sheets: glyphs rasterised by FreeType from a TrueType font (Debian's
// DejaVu Sans by default), alpha-blended at a pixel height.
internal import CFreeType
import Foundation

/// A TrueType face at one pixel height. Not thread-safe: one per drawing thread.
public final class Font {
    /// Where Debian's fonts-dejavu-core puts DejaVu Sans.
    public static let defaultPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    private var library: FT_Library?
    private var face: FT_Face?
    /// Line height in pixels.
    public let pixelHeight: Int

    /// Loads the font at `path`; the error names the file and the package that provides it.
    public init(path: String = Font.defaultPath, pixelHeight: Int = 12) throws {
        self.pixelHeight = pixelHeight
        guard FT_Init_FreeType(&library) == 0 else { throw DataError(path, "FreeType could not start") }
        guard FileManager.default.fileExists(atPath: path), FT_New_Face(library, path, 0, &face) == 0 else {
            FT_Done_FreeType(library)
            library = nil   // deinit runs for this failed init too: free once
            throw DataError(path, "cannot load this font: install Debian's fonts-dejavu-core (scripts/setup.sh does)")
        }
        FT_Set_Pixel_Sizes(face, 0, FT_UInt(pixelHeight))
    }

    deinit {
        if let face { FT_Done_Face(face) }
        if let library { FT_Done_FreeType(library) }
    }

    /// The width in pixels `text` takes.
    public func width(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { total, scalar in
            guard let face, FT_Load_Char(face, FT_ULong(scalar.value), FT_Int32(FT_LOAD_DEFAULT)) == 0 else { return total }
            return total + Int(face.pointee.glyph.pointee.advance.x >> 6)
        }
    }

    /// Draws `text` into `image` with its top-left corner at (x, y) in pixels, clipped.
    public func draw(_ text: String, into image: inout RGBImage, x: Int, y: Int, colour: (UInt8, UInt8, UInt8)) {
        guard let face else { return }
        let ascender = Int(face.pointee.size.pointee.metrics.ascender >> 6)
        var pen = x
        for scalar in text.unicodeScalars {
            guard FT_Load_Char(face, FT_ULong(scalar.value), FT_Int32(FT_LOAD_RENDER)) == 0 else { continue }
            let glyph = face.pointee.glyph.pointee, bitmap = glyph.bitmap
            let left = pen + Int(glyph.bitmap_left), top = y + ascender - Int(glyph.bitmap_top)
            for row in 0..<Int(bitmap.rows) {
                for column in 0..<Int(bitmap.width) {
                    let px = left + column, py = top + row
                    guard px >= 0, py >= 0, px < image.width, py < image.height else { continue }
                    let coverage = Int(bitmap.buffer[row * Int(bitmap.pitch) + column])
                    guard coverage > 0 else { continue }
                    let old = image[px, py]
                    func blend(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Int(a) * (255 - coverage) + Int(b) * coverage) / 255) }
                    image[px, py] = (blend(old.0, colour.0), blend(old.1, colour.1), blend(old.2, colour.2))
                }
            }
            pen += Int(glyph.advance.x >> 6)
        }
    }

    /// Draws `text` on a dark box (for reading over any picture), top-left at (x, y).
    public func label(_ text: String, into image: inout RGBImage, x: Int, y: Int, colour: (UInt8, UInt8, UInt8)) {
        let w = width(text) + 4, h = pixelHeight + 3
        let rows = max(0, y)..<max(max(0, y), min(image.height, y + h)), columns = max(0, x)..<max(max(0, x), min(image.width, x + w))
        for py in rows {
            for px in columns {
                let p = image[px, py]
                image[px, py] = (p.0 / 4, p.1 / 4, p.2 / 4)
            }
        }
        draw(text, into: &image, x: x + 2, y: y + 1, colour: colour)
    }
}
