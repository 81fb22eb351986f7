// PNG <-> RGBImage through libpng's simplified API (png_image), which reads every PNG colour type and
// bit depth and converts it to 8-bit RGB.
internal import CPNG
import Foundation

/// Decoding and encoding of PNG. Use it through `ImageCodec`.
///
/// Decoding policy:
/// - Gray, gray+alpha, palette (with or without tRNS), RGB and RGBA at 1/2/4/8/16 bits, interlaced or
///   not, all decode to 8-bit RGB.
/// - Alpha (an alpha channel, or tRNS transparency) is composited on black, not dropped: each colour
///   becomes c * alpha / 255 in sRGB values, as browsers blend (50%-transparent white is 128). So a
///   transparent pixel is (0, 0, 0) whatever colour it stores, and an opaque one keeps its colour.
///   (libpng's own compositing works in linear light and would give 186 for that white.)
/// - 16-bit samples without a gAMA/sRGB chunk are taken as sRGB-encoded (PNG_IMAGE_FLAG_16BIT_sRGB) and
///   scaled to 8 bits (65535 -> 255, 0x8080 -> 128). Without the flag libpng assumes 16-bit data is
///   linear and would brighten every such image (0x8080 -> 186). Files with gAMA, sRGB, cHRM or
///   iCCP chunks are converted to sRGB as libpng sees fit.
/// - libpng errors (bad CRC, truncated data, bad zlib stream) are errors. libpng warnings (e.g. about
///   an ICC profile or a text chunk) are ignored: the pixels were read in full.
/// - Images over `ImageCodec.maxPixels` are rejected before any pixel memory is allocated.
enum PNGCodec {
    /// Decodes `data` (a whole PNG file) to an RGB image. `path` is only used in errors.
    static func decode(_ data: Foundation.Data, path: String) throws -> RGBImage {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> RGBImage in
            try withPNGImage { image in
                try beginRead(image, raw, path: path)
                let width = Int(image.pointee.width), height = Int(image.pointee.height)
                try ImageCodec.checkPixelCount(width: width, height: height, path: path)
                // Alpha (an alpha channel or tRNS) is read as straight 8-bit RGBA and composited here.
                let hasAlpha = image.pointee.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
                let channels = hasAlpha ? 4 : 3
                image.pointee.format = UInt32(hasAlpha ? PNG_FORMAT_RGB | PNG_FORMAT_FLAG_ALPHA : PNG_FORMAT_RGB)
                var pixels = [UInt8](repeating: 0, count: width * height * channels)
                let ok = pixels.withUnsafeMutableBytes { out in
                    png_image_finish_read(image, nil, out.baseAddress, Int32(width * channels), nil)
                }
                guard ok != 0, !failed(image) else {
                    throw DataError(path, "cannot decode PNG (libpng: \(message(image))); "
                                    + "re-export the image or remove it from the labels")
                }
                if hasAlpha { pixels = rgbScaledByFourthChannel(pixels) }  // composited on black in sRGB space
                return RGBImage(width: width, height: height, pixels: pixels)
            }
        }
    }

    /// The image size in pixels, reading only the signature and IHDR.
    static func size(_ data: Foundation.Data, path: String) throws -> (width: Int, height: Int) {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> (width: Int, height: Int) in
            try withPNGImage { image in
                try beginRead(image, raw, path: path)
                return (Int(image.pointee.width), Int(image.pointee.height))
            }
        }
    }

    /// Encodes `image` as an 8-bit RGB PNG (lossless). `path` is where the result will go, used only
    /// in error messages.
    static func encode(_ image: RGBImage, path: String) throws -> Foundation.Data {
        guard image.width > 0, image.height > 0 else {
            throw DataError(path, "cannot encode an empty \(image.width)x\(image.height) image as PNG")
        }
        return try withPNGImage { png in
            png.pointee.width = UInt32(image.width)
            png.pointee.height = UInt32(image.height)
            png.pointee.format = UInt32(PNG_FORMAT_RGB)
            // First call: how many bytes the file needs. Second: write it.
            var size = 0
            let sized = image.pixels.withUnsafeBytes { pixels in
                png_image_write_to_memory(png, nil, &size, 0, pixels.baseAddress, 0, nil)
            }
            guard sized != 0, !failed(png) else {
                throw DataError(path, "cannot encode a \(image.width)x\(image.height) image as PNG "
                                + "(libpng: \(message(png)))")
            }
            var output = Foundation.Data(count: size)
            let written = output.withUnsafeMutableBytes { out in
                image.pixels.withUnsafeBytes { pixels in
                    png_image_write_to_memory(png, out.baseAddress, &size, 0, pixels.baseAddress, 0, nil)
                }
            }
            guard written != 0, !failed(png) else {
                throw DataError(path, "cannot encode a \(image.width)x\(image.height) image as PNG "
                                + "(libpng: \(message(png)))")
            }
            output.count = size
            return output
        }
    }

    // MARK: - Helpers

    /// Runs `body` with a fresh png_image (version set) and frees it afterwards (png_image_free is a
    /// no-op if libpng already freed it). NOTE: the png_image lives on the heap because libpng keeps its
    /// address (as the error pointer) from png_image_begin_read_* until png_image_finish_read; a Swift
    /// `&local` is only guaranteed to be valid for the duration of a single call.
    private static func withPNGImage<T>(_ body: (UnsafeMutablePointer<png_image>) throws -> T) rethrows -> T {
        let image = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
        image.initialize(to: png_image())
        image.pointee.version = UInt32(PNG_IMAGE_VERSION)
        defer {
            png_image_free(image)
            image.deallocate()
        }
        return try body(image)
    }

    /// Starts a simplified read of `raw`, which must stay valid until png_image_finish_read: reads and
    /// checks the signature and IHDR. On failure the error names `path`.
    private static func beginRead(_ image: UnsafeMutablePointer<png_image>, _ raw: UnsafeRawBufferPointer,
                                  path: String) throws {
        guard let bytes = raw.baseAddress, raw.count > 0 else {
            throw DataError(path, "empty PNG data; re-export the image or remove it from the labels")
        }
        guard png_image_begin_read_from_memory(image, bytes, raw.count) != 0, !failed(image) else {
            throw DataError(path, "cannot read the PNG header (libpng: \(message(image))); "
                            + "re-export the image or remove it from the labels")
        }
        // 16-bit data without gamma information is sRGB-encoded in practice (see the type's notes).
        image.pointee.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
    }


    /// True when the last call on `image` recorded an error (not just a warning).
    private static func failed(_ image: UnsafeMutablePointer<png_image>) -> Bool {
        image.pointee.warning_or_error & 0x03 > UInt32(PNG_IMAGE_WARNING)
    }

    /// libpng's message for the last error or warning on `image` ('\0'-terminated, at most 64 bytes).
    private static func message(_ image: UnsafeMutablePointer<png_image>) -> String {
        var buffer = image.pointee.message
        let text = withUnsafeBytes(of: &buffer) { bytes -> String in
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
        return text.isEmpty ? "unknown error" : text
    }
}
