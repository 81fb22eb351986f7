// The one entry point for image files: recognises the format from the file's first bytes (never its
// extension) and hands the bytes to the JPEG or PNG codec.
import Foundation

/// Reading and writing the image files of a dataset. Every decoder returns an 8-bit RGB image in the
/// orientation a viewer shows (JPEG EXIF orientation applied), so keypoints labelled on screen are in
/// its pixel coordinates. Every failure is a `DataError` naming the file and saying what to do.
///
/// Supported: JPEG (8-bit baseline and progressive; gray, YCbCr, RGB, CMYK) and PNG (every colour type
/// and bit depth; alpha composited on black). See `JPEGCodec` and `PNGCodec` for the exact policies,
/// in short: a JPEG that libjpeg-turbo can only decode with a warning (truncated or damaged data) is
/// rejected; PNG warnings are ignored; 16-bit PNG samples are scaled to 8 bits, not gamma-converted.
///
/// Every call has its own decoder state, so decoding on several threads at once is safe.
public enum ImageCodec {
    /// The largest image accepted, in pixels (width * height): 100 megapixels, 300 MB of RGB. Larger
    /// images (or corrupt headers claiming them) are rejected before memory is allocated.
    public static let maxPixels = 100_000_000

    /// The image formats that can be decoded.
    public enum Format: String, Sendable {
        case jpeg = "JPEG"
        case png = "PNG"
    }

    /// The format of `data` from its magic bytes (FF D8 FF: JPEG, 89 50 4E 47: PNG), or nil.
    public static func format(of data: Foundation.Data) -> Format? {
        let head = [UInt8](data.prefix(4))
        if head.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return .png }
        return nil
    }

    /// Decodes a whole image file held in memory to upright 8-bit RGB, [height, width, 3].
    /// - Parameter path: where the bytes came from; used only in error messages.
    public static func decode(_ data: Foundation.Data, path: String) throws -> RGBImage {
        switch try recognise(data, path: path) {
        case .jpeg: return try JPEGCodec.decode(data, path: path)
        case .png: return try PNGCodec.decode(data, path: path)
        }
    }

    /// Reads and decodes the image file at `path` (relative paths are resolved against the current
    /// directory).
    public static func load(path: String) throws -> RGBImage {
        try decode(try read(path: path), path: path)
    }

    /// The size in pixels of the upright image (as `decode` would return it), reading only the
    /// header: for a JPEG whose EXIF orientation is a quarter turn, width and height are swapped
    /// relative to the stored frame.
    public static func imageSize(_ data: Foundation.Data, path: String) throws -> (width: Int, height: Int) {
        switch try recognise(data, path: path) {
        case .jpeg: return try JPEGCodec.size(data, path: path)
        case .png: return try PNGCodec.size(data, path: path)
        }
    }

    /// An 8-bit RGB PNG of `image`: lossless, so `decode` gives back exactly `image`.
    /// - Parameter path: where the file will be written; used only in error messages.
    public static func encodePNG(_ image: RGBImage, path: String = "<PNG in memory>") throws -> Foundation.Data {
        try PNGCodec.encode(image, path: path)
    }

    /// A baseline JFIF JPEG of `image`, without EXIF (so it decodes in the orientation it was given).
    /// - Parameters:
    ///   - quality: 1...100 on libjpeg's scale; 95 keeps the mean error around one grey level.
    ///   - subsampling: `.yuv444` (default) keeps colour at full resolution, so colour edges do not move.
    ///   - path: where the file will be written; used only in error messages.
    public static func encodeJPEG(_ image: RGBImage, quality: Int = 95, subsampling: JPEGSubsampling = .yuv444,
                                  path: String = "<JPEG in memory>") throws -> Foundation.Data {
        try JPEGCodec.encode(image, quality: quality, subsampling: subsampling, path: path)
    }

    // MARK: - Helpers shared by the codecs

    /// Throws unless a width x height image is within `maxPixels`.
    static func checkPixelCount(width: Int, height: Int, path: String) throws {
        guard width > 0, height > 0 else {
            throw DataError(path, "the header says the image is \(width)x\(height) pixels; "
                            + "re-export the image or remove it from the labels")
        }
        guard width * height <= maxPixels else {
            throw DataError(path, "image is \(width)x\(height) pixels, over the limit of \(maxPixels / 1_000_000) "
                            + "megapixels; downscale it (keypoint labels scale with it) or remove it from the labels")
        }
    }

    /// The format of `data`, or an error naming `path` that lists the supported formats (and names a
    /// few well-known unsupported ones, so the user knows what to convert from).
    private static func recognise(_ data: Foundation.Data, path: String) throws -> Format {
        if let format = format(of: data) { return format }
        let supported = "supported formats are JPEG and PNG"
        if data.isEmpty {
            throw DataError(path, "empty file (0 bytes); re-export the image or remove it from the labels")
        }
        let head = [UInt8](data.prefix(12))
        let hex = head.prefix(8).map { String($0, radix: 16, uppercase: true) }
            .map { $0.count == 1 ? "0" + $0 : $0 }.joined(separator: " ")
        let ascii = { (range: Range<Int>) -> String in
            range.upperBound <= head.count ? String(decoding: head[range], as: UTF8.self) : ""
        }
        let known: String?
        if ascii(0..<4) == "GIF8" { known = "GIF" }
        else if ascii(0..<4) == "RIFF" && ascii(8..<12) == "WEBP" { known = "WebP" }
        else if ascii(0..<2) == "BM" { known = "BMP" }
        else if ascii(0..<4) == "II*\0" || ascii(0..<4) == "MM\0*" { known = "TIFF" }
        else if ascii(4..<8) == "ftyp" { known = "HEIF/AVIF (or another ISO media file)" }
        else { known = nil }
        if let known {
            throw DataError(path, "this is a \(known) file, which cannot be decoded; \(supported): "
                            + "convert it to PNG (lossless) or remove it from the labels")
        }
        throw DataError(path, "not a JPEG or PNG file (it starts with \(hex)); \(supported), recognised "
                        + "by their first bytes, not the extension: convert the file or remove it from the labels")
    }

    /// The bytes of the file at `path`, or an error saying why they cannot be read.
    private static func read(path: String) throws -> Foundation.Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            let relative = path.hasPrefix("/")
                ? "" : " (relative to the current directory \(FileManager.default.currentDirectoryPath))"
            throw DataError(path, "no such image file\(relative); check the image path in the labels")
        }
        if isDirectory.boolValue {
            throw DataError(path, "is a directory, not an image file; check the image path in the labels")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw DataError(path, "the image file is not readable by this user; check its permissions")
        }
        do {
            return try Foundation.Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DataError(path, "cannot read the image file (\(error)); check that the disk and file are intact")
        }
    }
}
