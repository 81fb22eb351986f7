// JPEG <-> RGBImage through libjpeg-turbo's TurboJPEG API, with the EXIF orientation applied so that a
// decoded photo is upright as an image viewer shows it (and as a person labelling it saw it).
internal import CTurboJPEG
import Foundation

/// Chroma subsampling of an encoded JPEG.
public enum JPEGSubsampling: Sendable {
    /// 4:4:4: colour at full resolution. Colour edges stay where they are; files are ~1.5x larger.
    case yuv444
    /// 4:2:0: colour at half resolution in x and y (what cameras and most encoders write).
    case yuv420
}

/// Decoding and encoding of baseline and progressive 8-bit JPEG. Use it through `ImageCodec`.
///
/// Decoding policy:
/// - Gray, YCbCr and RGB JPEGs decode to RGB (gray is replicated into r = g = b).
/// - CMYK and YCCK JPEGs are decoded to CMYK and converted with R = C*K/255 (likewise G, B), which
///   assumes the inverted ("Adobe") CMYK that Photoshop writes and every common decoder assumes. No ICC
///   profile is applied, so colours are approximate.
/// - libjpeg warnings are errors. TurboJPEG reports damaged entropy-coded data (a truncated file, a
///   corrupt scan, bytes lost before a marker) as a *warning* and fills what it could not decode with
///   grey; a training image like that has wrong pixels under correct-looking labels, so it is rejected
///   with a message saying what to do. Decoding stops at the first warning (TJFLAG_STOPONWARNING).
///   Reading only the header (`size`) tolerates warnings: it needs the dimensions, not the pixels.
/// - Progressive JPEGs with more than 500 scans are rejected (TJFLAG_LIMITSCANS), so a crafted file
///   cannot make decoding take minutes.
/// - The EXIF orientation (APP1 "Exif", IFD0 tag 0x0112) is applied; see `ExifOrientation`.
/// - Images over `ImageCodec.maxPixels` are rejected before any pixel memory is allocated.
enum JPEGCodec {
    /// What the JPEG header says, before orientation: stored width and height in pixels, and whether
    /// the components are CMYK/YCCK (decoded via CMYK) rather than gray/RGB/YCbCr (decoded to RGB).
    struct Header {
        var width: Int
        var height: Int
        var isCMYK: Bool
    }

    /// Decodes `data` (a whole JPEG file) to an upright RGB image. `path` is only used in errors.
    static func decode(_ data: Foundation.Data, path: String) throws -> RGBImage {
        try withHeader(data, path: path) { handle, bytes, raw, header in
            try ImageCodec.checkPixelCount(width: header.width, height: header.height, path: path)
            let channels = header.isCMYK ? 4 : 3
            let format = header.isCMYK ? TJPF_CMYK : TJPF_RGB
            var pixels = [UInt8](repeating: 0, count: header.width * header.height * channels)
            let flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS | TJFLAG_ACCURATEDCT
            let status = pixels.withUnsafeMutableBufferPointer { out in
                tjDecompress2(handle, bytes, UInt(raw.count), out.baseAddress, Int32(header.width), 0,
                              Int32(header.height), Int32(format.rawValue), Int32(flags))
            }
            if status != 0 {
                let isWarning = tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue)
                let text = errorText(handle)
                if isWarning {
                    throw DataError(path, "damaged JPEG data (libjpeg-turbo: \(text)), so part of the image "
                                    + "would be wrong; re-export the image or remove it from the labels")
                }
                throw DataError(path, "cannot decode JPEG (libjpeg-turbo: \(text)); "
                                + "re-export the image or remove it from the labels")
            }
            // Inverted CMYK (255 = no ink) to RGB: R = C*K/255 and so on, as libjpeg-turbo's own tools do.
            if header.isCMYK { pixels = rgbScaledByFourthChannel(pixels) }
            let stored = RGBImage(width: header.width, height: header.height, pixels: pixels)
            return ExifOrientation(jpeg: raw).apply(to: stored)
        }
    }

    /// The size of the upright image in pixels, reading only the header: for EXIF orientations 5-8
    /// (quarter turns) this is the stored height by the stored width.
    static func size(_ data: Foundation.Data, path: String) throws -> (width: Int, height: Int) {
        try withHeader(data, path: path) { _, _, raw, header in
            ExifOrientation(jpeg: raw).swapsAxes ? (header.height, header.width) : (header.width, header.height)
        }
    }

    /// Opens a decompressor on non-empty JPEG bytes, reads the header and runs `body`; the
    /// decompressor is destroyed afterwards whatever happens.
    private static func withHeader<T>(_ data: Foundation.Data, path: String,
                                      _ body: (tjhandle, UnsafePointer<UInt8>, UnsafeRawBufferPointer, Header) throws -> T) throws -> T {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> T in
            guard let bytes = raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count > 0 else {
                throw DataError(path, "empty JPEG data; re-export the image or remove it from the labels")
            }
            guard let handle = tjInitDecompress() else {
                throw DataError(path, "cannot start the JPEG decoder (libjpeg-turbo: \(errorText(nil)))")
            }
            defer { tjDestroy(handle) }
            return try body(handle, bytes, raw, try readHeader(handle, bytes, raw.count, path: path))
        }
    }

    /// Encodes `image` as a baseline JPEG (JFIF, no EXIF, so it is read back exactly as stored).
    /// - Parameters:
    ///   - quality: 1...100 (libjpeg's scale; 90-95 is visually lossless for photos).
    ///   - path: where the result will go, used only in error messages.
    static func encode(_ image: RGBImage, quality: Int, subsampling: JPEGSubsampling,
                       path: String) throws -> Foundation.Data {
        guard image.width > 0, image.height > 0 else {
            throw DataError(path, "cannot encode an empty \(image.width)x\(image.height) image as JPEG")
        }
        guard (1...100).contains(quality) else {
            throw DataError(path, "JPEG quality \(quality) is outside 1...100; use e.g. 90")
        }
        guard let handle = tjInitCompress() else {
            throw DataError(path, "cannot start the JPEG encoder (libjpeg-turbo: \(errorText(nil)))")
        }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        defer { tjFree(output) }
        let sampling = subsampling == .yuv444 ? TJSAMP_444 : TJSAMP_420
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(image.width), 0, Int32(image.height),
                        Int32(TJPF_RGB.rawValue), &output, &size, Int32(sampling.rawValue), Int32(quality),
                        Int32(TJFLAG_ACCURATEDCT))
        }
        guard status == 0, let output else {
            throw DataError(path, "cannot encode a \(image.width)x\(image.height) image as JPEG "
                            + "(libjpeg-turbo: \(errorText(handle)))")
        }
        return Foundation.Data(bytes: output, count: Int(size))
    }

    // MARK: - Helpers

    /// Reads the header with tjDecompressHeader3. Warnings are ignored here (the pixel decode reports
    /// them). NOTE: two libjpeg-turbo 2.1 behaviours matter:
    /// - data that ends (or holds only tables) before the frame header returns *success* with the
    ///   outputs untouched, so zero dimensions are checked here;
    /// - valid JPEGs whose sampling factors are not one of its named subsamplings (e.g. luma 1x4) fail
    ///   after width, height and colour space are filled in; tjDecompress2 decodes those fine, so that
    ///   case is not an error.
    private static func readHeader(_ handle: tjhandle, _ bytes: UnsafePointer<UInt8>, _ count: Int,
                                   path: String) throws -> Header {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = -2, colorspace: Int32 = -2
        let status = tjDecompressHeader3(handle, bytes, UInt(count), &width, &height, &subsampling, &colorspace)
        let complete = width > 0 && height > 0 && colorspace >= 0
        if status == 0 && !complete {
            throw DataError(path, "no image in the JPEG data (it ends before the frame header); "
                            + "re-export the image or remove it from the labels")
        }
        if status != 0 {
            let isWarning = tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue)
            let unnamedSubsampling = subsampling == -1
            let text = errorText(handle)
            if !(complete && (isWarning || unnamedSubsampling)) {
                throw DataError(path, "cannot read the JPEG header (libjpeg-turbo: \(text)); "
                                + "re-export the image or remove it from the labels")
            }
        }
        let cmyk = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        return Header(width: Int(width), height: Int(height), isCMYK: cmyk)
    }

    /// TurboJPEG's message for the last failure on `handle` (or of tjInit* when `handle` is nil).
    /// NOTE: tjGetErrorStr2 clears the handle's error, so call it once per failure.
    private static func errorText(_ handle: tjhandle?) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "unknown error" }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }

}

/// The EXIF orientation of a JPEG: how the stored pixels must be flipped or turned to be shown upright.
/// Cases are the EXIF values 1...8 (TIFF 6.0 tag 0x0112), named by the transform that makes the stored
/// image upright. A file with no EXIF, no orientation tag, an unknown value or an unreadable EXIF block
/// counts as `.upright`, as viewers treat it.
enum ExifOrientation: Int, Sendable {
    case upright = 1
    case flipHorizontal = 2
    case rotate180 = 3
    case flipVertical = 4
    /// Mirror across the top-left to bottom-right diagonal.
    case transpose = 5
    /// Turn 90 degrees clockwise (a camera held with its grip up).
    case rotate90Clockwise = 6
    /// Mirror across the top-right to bottom-left diagonal.
    case transverse = 7
    /// Turn 90 degrees counter-clockwise.
    case rotate90CounterClockwise = 8

    /// True for the quarter turns (5...8): the upright image is `height` wide and `width` tall.
    var swapsAxes: Bool { rawValue >= 5 }

    /// The orientation recorded in the first APP1 "Exif" segment of `jpeg` (whole file bytes). Walks
    /// the marker segments from SOI up to the first SOS; every read is bounds-checked.
    init(jpeg bytes: UnsafeRawBufferPointer) {
        self = .upright
        var i = 2  // after SOI
        while i + 4 <= bytes.count {
            guard bytes[i] == 0xFF else { return }  // lost sync: give up on metadata
            let marker = bytes[i + 1]
            if marker == 0xFF { i += 1; continue }  // fill byte before a marker
            if marker == 0x01 || (0xD0...0xD8).contains(marker) { i += 2; continue }  // no length field
            if marker == 0xDA || marker == 0xD9 { return }  // SOS or EOI: the metadata is over
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])  // includes the 2 length bytes
            guard length >= 2, i + 2 + length <= bytes.count else { return }
            let exifTag: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]  // "Exif\0\0"
            if marker == 0xE1, length - 2 >= exifTag.count,
               (0..<exifTag.count).allSatisfy({ bytes[i + 4 + $0] == exifTag[$0] }) {
                let tiff = UnsafeRawBufferPointer(rebasing: bytes[(i + 4 + exifTag.count)..<(i + 2 + length)])
                self = ExifOrientation(tiff: tiff) ?? .upright
                return
            }
            i += 2 + length
        }
    }

    /// Reads tag 0x0112 from IFD0 of a TIFF block ("II" little-endian or "MM" big-endian), or nil.
    private init?(tiff: UnsafeRawBufferPointer) {
        guard tiff.count >= 8 else { return nil }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            let a = Int(tiff[at]), b = Int(tiff[at + 1])
            return little ? a | b << 8 : a << 8 | b
        }
        func u32(_ at: Int) -> Int? {
            guard let a = u16(at), let b = u16(at + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let entries = u16(ifd) else { return nil }
        for k in 0..<entries {
            let entry = ifd + 2 + 12 * k
            guard let tag = u16(entry) else { return nil }
            guard tag == 0x0112 else { continue }
            // Type SHORT (3) as the standard says; a few writers use LONG (4).
            let value: Int?
            switch u16(entry + 2) {
            case 3: value = u16(entry + 8)
            case 4: value = u32(entry + 8)
            default: value = nil
            }
            guard let value, let orientation = ExifOrientation(rawValue: value) else { return nil }
            self = orientation
            return
        }
        return nil
    }

    /// The upright image: stored pixel (x, y) of a W x H image moves to the position EXIF prescribes.
    func apply(to image: RGBImage) -> RGBImage {
        guard self != .upright else { return image }
        let w = image.width, h = image.height
        let outWidth = swapsAxes ? h : w, outHeight = swapsAxes ? w : h
        // The stored pixel shown at upright (u, v), for u in 0..<outWidth, v in 0..<outHeight.
        let source: (Int, Int) -> (Int, Int)
        switch self {
        case .upright: source = { u, v in (u, v) }
        case .flipHorizontal: source = { u, v in (w - 1 - u, v) }
        case .rotate180: source = { u, v in (w - 1 - u, h - 1 - v) }
        case .flipVertical: source = { u, v in (u, h - 1 - v) }
        case .transpose: source = { u, v in (v, u) }
        case .rotate90Clockwise: source = { u, v in (v, h - 1 - u) }
        case .transverse: source = { u, v in (w - 1 - v, h - 1 - u) }
        case .rotate90CounterClockwise: source = { u, v in (w - 1 - v, u) }
        }
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for v in 0..<outHeight {
                    for u in 0..<outWidth {
                        let (x, y) = source(u, v)
                        let s = 3 * (y * w + x), d = 3 * (v * outWidth + u)
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: outWidth, height: outHeight, pixels: out)
    }
}
