// Tests of the JPEG and PNG codecs: round trips, every PNG colour type (from PNG files written byte by
// byte below, independent of libpng), gray/CMYK JPEGs, EXIF orientations, and bad input that must give
// a DataError naming the file, never a crash.
import CTurboJPEG
import Compute
import Data
import Foundation
import XCTest

final class ImageCodecTests: XCTestCase {
    // MARK: PNG

    func testPNGRoundTripIsExact() throws {
        let image = randomImage(width: 37, height: 23, seed: 1)
        let png = try ImageCodec.encodePNG(image)
        XCTAssertEqual(ImageCodec.format(of: png), .png)
        XCTAssertEqual(try ImageCodec.decode(png, path: "round.png"), image)
        let size = try ImageCodec.imageSize(png, path: "round.png")
        XCTAssertEqual([size.width, size.height], [37, 23])
    }

    func testPNGGray8AndGray1BitDecodeToReplicatedRGB() throws {
        let gray8 = makePNG(width: 3, height: 2, bitDepth: 8, colorType: 0, rows: [[0, 128, 255], [17, 200, 64]])
        assertPixels(try ImageCodec.decode(gray8, path: "g8.png"), width: 3, height: 2,
                     [(0, 0, 0), (128, 128, 128), (255, 255, 255), (17, 17, 17), (200, 200, 200), (64, 64, 64)])
        // 1 bit: 0b1011_0000 -> white, black, white, white, black.
        let gray1 = makePNG(width: 5, height: 1, bitDepth: 1, colorType: 0, rows: [[0b1011_0000]])
        assertPixels(try ImageCodec.decode(gray1, path: "g1.png"), width: 5, height: 1,
                     [(255, 255, 255), (0, 0, 0), (255, 255, 255), (255, 255, 255), (0, 0, 0)])
        // Adam7-interlaced 2x2: pass 1 holds (0,0), pass 6 holds (1,0), pass 7 holds row 1; the rest are empty.
        let interlaced = makePNG(width: 2, height: 2, bitDepth: 8, colorType: 0, rows: [[10], [20], [30, 40]],
                                 interlaced: true)
        assertPixels(try ImageCodec.decode(interlaced, path: "adam7.png"), width: 2, height: 2,
                     [(10, 10, 10), (20, 20, 20), (30, 30, 30), (40, 40, 40)])
    }

    /// 16-bit samples without gAMA are sRGB, scaled by 255/65535: 0x8080 is 128, not the 186 that
    /// libpng's default (16-bit data is linear) gives.
    func testPNGGray16AndRGB16AreScaledNotGammaCorrected() throws {
        let gray: [Int] = [0x0000, 0xFFFF, 0x8080, 0x1234, 0xFF00, 0x00FF]
        let gray16 = makePNG(width: 3, height: 2, bitDepth: 16, colorType: 0,
                             rows: [bigEndian16(Array(gray[0..<3])), bigEndian16(Array(gray[3..<6]))])
        assertPixels(try ImageCodec.decode(gray16, path: "g16.png"), width: 3, height: 2,
                     gray.map { (to8($0), to8($0), to8($0)) })

        let rgb: [Int] = [0xFFFF, 0x0000, 0x8080, 0x1234, 0xFF00, 0x00FF]
        let rgb16 = makePNG(width: 2, height: 1, bitDepth: 16, colorType: 2, rows: [bigEndian16(rgb)])
        assertPixels(try ImageCodec.decode(rgb16, path: "rgb16.png"), width: 2, height: 1,
                     [(255, 0, 128), (to8(0x1234), to8(0xFF00), to8(0x00FF))])
    }

    /// Alpha is composited on black in sRGB values, c * a / 255 as browsers blend: opaque keeps its
    /// colour, transparent is black whatever it stores, 50% white is 128 (libpng's linear-light
    /// compositing would give 186).
    func testPNGAlphaIsCompositedOnBlack() throws {
        let rgba = makePNG(width: 4, height: 1, bitDepth: 8, colorType: 6,
                           rows: [[255, 0, 0, 255, 0, 255, 0, 0, 255, 255, 255, 128, 10, 200, 30, 64]])
        assertPixels(try ImageCodec.decode(rgba, path: "rgba.png"), width: 4, height: 1,
                     [(255, 0, 0), (0, 0, 0), (128, 128, 128), (3, 50, 8)])
        // 16-bit RGBA: colour and alpha are scaled to 8 bits first (0x8080 -> 128), then composited.
        let rgba16 = makePNG(width: 2, height: 1, bitDepth: 16, colorType: 6,
                             rows: [bigEndian16([0xFFFF, 0x8080, 0x0000, 0x8080, 0x1234, 0xFFFF, 0x8080, 0xFFFF])])
        assertPixels(try ImageCodec.decode(rgba16, path: "rgba16.png"), width: 2, height: 1,
                     [(128, 64, 0), (to8(0x1234), 255, 128)])

        let grayAlpha = makePNG(width: 2, height: 1, bitDepth: 8, colorType: 4, rows: [[200, 255, 200, 0]])
        assertPixels(try ImageCodec.decode(grayAlpha, path: "ga.png"), width: 2, height: 1,
                     [(200, 200, 200), (0, 0, 0)])
    }

    func testPNGPaletteWithTransparencyDecodesToRGB() throws {
        let palette = makePNG(width: 3, height: 1, bitDepth: 8, colorType: 3, rows: [[2, 0, 1]],
                              before: [("PLTE", [255, 0, 0, 0, 128, 255, 9, 9, 9]), ("tRNS", [255, 255, 0])])
        assertPixels(try ImageCodec.decode(palette, path: "pal.png"), width: 3, height: 1,
                     [(0, 0, 0), (255, 0, 0), (0, 128, 255)])
    }

    /// libpng warnings do not stop decoding: a tEXt chunk with a wrong CRC is dropped with a warning.
    func testPNGWarningsAreIgnored() throws {
        var png = [UInt8](makePNG(width: 2, height: 1, bitDepth: 8, colorType: 0, rows: [[7, 250]],
                                  before: [("tEXt", Array("Comment\0hello".utf8))]))
        let crc = 8 + 25 + 8 + 13  // signature, IHDR chunk, tEXt length + type, tEXt body
        XCTAssertEqual(Array(png[(8 + 25 + 4)..<(8 + 25 + 8)]), Array("tEXt".utf8))
        png[crc] ^= 0xFF
        assertPixels(try ImageCodec.decode(Foundation.Data(png), path: "text.png"), width: 2, height: 1,
                     [(7, 7, 7), (250, 250, 250)])
    }

    // MARK: JPEG

    func testJPEGRoundTripIsCloseAtQuality95() throws {
        let image = smoothImage(width: 64, height: 48)
        let jpeg = try ImageCodec.encodeJPEG(image, quality: 95)
        XCTAssertEqual(ImageCodec.format(of: jpeg), .jpeg)
        let decoded = try ImageCodec.decode(jpeg, path: "round.jpg")
        XCTAssertEqual([decoded.width, decoded.height], [64, 48])
        XCTAssertLessThan(meanAbsoluteError(decoded, image), 1.5)

        let subsampled = try ImageCodec.decode(try ImageCodec.encodeJPEG(image, quality: 95, subsampling: .yuv420),
                                               path: "round420.jpg")
        XCTAssertLessThan(meanAbsoluteError(subsampled, image), 2.5)
        // Lower quality must cost accuracy, or the quality argument is not being passed on.
        let rough = try ImageCodec.decode(try ImageCodec.encodeJPEG(image, quality: 5), path: "q5.jpg")
        XCTAssertGreaterThan(meanAbsoluteError(rough, image), meanAbsoluteError(decoded, image) + 1)
    }

    func testGrayscaleAndProgressiveJPEGsDecodeToRGB() throws {
        let w = 32, h = 24
        let gray = (0..<(w * h)).map { UInt8(($0 % w) * 6 + ($0 / w) * 2) }  // ramps along x and y
        let jpeg = turboJPEG(gray, width: w, height: h, format: TJPF_GRAY, subsampling: TJSAMP_GRAY)
        let image = try ImageCodec.decode(jpeg, path: "gray.jpg")
        XCTAssertEqual([image.width, image.height], [w, h])
        let p = image.pixels
        for i in 0..<(w * h) {
            XCTAssertTrue(p[3 * i] == p[3 * i + 1] && p[3 * i] == p[3 * i + 2], "pixel \(i) is not gray")
        }
        let replicated: [UInt8] = gray.flatMap { v -> [UInt8] in [v, v, v] }
        XCTAssertLessThan(meanAbsoluteError(image, RGBImage(width: w, height: h, pixels: replicated)), 2)

        let source = smoothImage(width: w, height: h)
        let progressive = turboJPEG(source.pixels, width: w, height: h, format: TJPF_RGB, subsampling: TJSAMP_420,
                                    flags: TJFLAG_PROGRESSIVE)
        XCTAssertLessThan(meanAbsoluteError(try ImageCodec.decode(progressive, path: "prog.jpg"), source), 3)
    }

    /// CMYK JPEGs (YCCK, inverted as Photoshop writes them) come out as RGB: R = C*K/255 and so on.
    func testCMYKJPEGDecodesToRGB() throws {
        let w = 32, h = 16
        let colours: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (200, 100, 50), (255, 255, 255), (0, 0, 0)]
        var cmyk = [UInt8](repeating: 0, count: w * h * 4)
        for y in 0..<h {
            for x in 0..<w {
                let (r, g, b) = colours[x / 8]
                let k = max(r, g, b)  // inverted K: 255 means no black ink
                let i = 4 * (y * w + x)
                for (c, v) in [r, g, b].enumerated() {
                    cmyk[i + c] = k == 0 ? 255 : UInt8((Int(v) * 255 + Int(k) / 2) / Int(k))
                }
                cmyk[i + 3] = k
            }
        }
        let image = try ImageCodec.decode(turboJPEG(cmyk, width: w, height: h, format: TJPF_CMYK, subsampling: TJSAMP_444),
                                          path: "cmyk.jpg")
        XCTAssertEqual([image.width, image.height], [w, h])
        for (k, colour) in colours.enumerated() {
            assertClose(image[8 * k + 4, 8], colour, tolerance: 6, "CMYK stripe \(k)")
        }
    }

    /// libjpeg-turbo 2.x's tjDecompressHeader3 fails on sampling factors it has no name for (here
    /// luma 1x4, chroma 1x1), although the image decodes fine; the codec must not give up on it.
    func testJPEGWithUnnamedSamplingFactorsDecodes() throws {
        let solid = RGBImage(width: 32, height: 32, fill: (30, 160, 90))
        var jpeg = [UInt8](try ImageCodec.encodeJPEG(solid, quality: 95, subsampling: .yuv420))
        let sof = try XCTUnwrap(segmentOffset(jpeg, marker: 0xC0))
        XCTAssertEqual(jpeg[sof + 11], 0x22, "expected 4:2:0 luma sampling 2x2")
        jpeg[sof + 11] = 0x14  // 4 luma blocks per MCU either way, so the entropy-coded data still fits
        let image = try ImageCodec.decode(Foundation.Data(jpeg), path: "odd.jpg")
        XCTAssertEqual([image.width, image.height], [32, 32])
        assertClose(image[5, 27], (30, 160, 90), tolerance: 4, "solid colour")
    }

    // MARK: EXIF orientation

    /// For each EXIF orientation, the colours a viewer shows at the corners [top-left, top-right,
    /// bottom-left, bottom-right] of a stored image whose quadrants are R G / B W (derived by hand from
    /// the EXIF 2.3 definitions: e.g. 6 = "row 0 is the visual right, column 0 the visual top").
    func testEXIFOrientationsPutCornersWhereAViewerShowsThem() throws {
        let R: (UInt8, UInt8, UInt8) = (255, 0, 0), G: (UInt8, UInt8, UInt8) = (0, 255, 0)
        let B: (UInt8, UInt8, UInt8) = (0, 0, 255), W: (UInt8, UInt8, UInt8) = (255, 255, 255)
        let expected: [Int: [(UInt8, UInt8, UInt8)]] = [
            1: [R, G, B, W], 2: [G, R, W, B], 3: [W, B, G, R], 4: [B, W, R, G],
            5: [R, B, G, W], 6: [B, R, W, G], 7: [W, G, B, R], 8: [G, W, R, B],
        ]
        let stored = quadrantImage(width: 48, height: 32, R, G, B, W)
        let plain = try ImageCodec.encodeJPEG(stored, quality: 95)
        for orientation in 1...8 {
            for bigEndian in [false, true] {
                let jpeg = withExif(plain, orientation: orientation, bigEndian: bigEndian)
                let name = "o\(orientation)\(bigEndian ? "MM" : "II").jpg"
                let image = try ImageCodec.decode(jpeg, path: name)
                let swapped = orientation >= 5
                XCTAssertEqual([image.width, image.height], swapped ? [32, 48] : [48, 32], name)
                let size = try ImageCodec.imageSize(jpeg, path: name)
                XCTAssertEqual([size.width, size.height], [image.width, image.height], "\(name): header-only size")
                let corners = [image[0, 0], image[image.width - 1, 0], image[0, image.height - 1],
                               image[image.width - 1, image.height - 1]]
                for (k, corner) in ["top-left", "top-right", "bottom-left", "bottom-right"].enumerated() {
                    assertClose(corners[k], expected[orientation]![k], tolerance: 12, "\(name) \(corner)")
                }
            }
        }
    }

    func testUnreadableOrAbsentEXIFLeavesTheImageAsStored() throws {
        let stored = quadrantImage(width: 48, height: 32, (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255))
        let plain = try ImageCodec.encodeJPEG(stored, quality: 95)
        let reference = try ImageCodec.decode(plain, path: "plain.jpg")
        // IFD0 offset pointing past the end, a bad byte order, and an orientation of 9.
        var badOffset = [UInt8](withExif(plain, orientation: 6, bigEndian: false))
        badOffset[exifTIFFStart + 4] = 0xF0  // low byte of the IFD0 offset (little-endian) -> 240
        XCTAssertEqual(try ImageCodec.decode(Foundation.Data(badOffset), path: "badifd.jpg"), reference)
        var badOrder = [UInt8](withExif(plain, orientation: 6, bigEndian: false))
        badOrder[exifTIFFStart] = 0x58  // "XI"
        XCTAssertEqual(try ImageCodec.decode(Foundation.Data(badOrder), path: "badorder.jpg"), reference)
        XCTAssertEqual(try ImageCodec.decode(withExif(plain, orientation: 9, bigEndian: true), path: "o9.jpg"), reference)
    }

    // MARK: Bad input: a DataError naming the path, never a crash

    func testTruncatedJPEGIsRejectedButItsHeaderStillReadable() throws {
        let jpeg = try ImageCodec.encodeJPEG(smoothImage(width: 64, height: 48), quality: 95)
        let cut = jpeg.prefix(jpeg.count * 6 / 10)
        let error = try decodeError(Foundation.Data(cut), path: "photos/cut.jpg")
        XCTAssertTrue(error.contains("damaged JPEG data"), error)
        XCTAssertTrue(error.contains("remove it from the labels"), error)
        let size = try ImageCodec.imageSize(Foundation.Data(cut), path: "photos/cut.jpg")
        XCTAssertEqual([size.width, size.height], [64, 48])
        // Cut inside the header: no size either.
        let header = Foundation.Data(jpeg.prefix(40))
        XCTAssertTrue(try decodeError(header, path: "photos/head.jpg").contains("JPEG"))
        XCTAssertThrowsError(try ImageCodec.imageSize(header, path: "photos/head.jpg")) { error in
            XCTAssertTrue("\(error)".hasPrefix("photos/head.jpg: "), "\(error)")
        }
    }

    func testTruncatedOrCorruptPNGIsRejected() throws {
        let png = try ImageCodec.encodePNG(randomImage(width: 40, height: 30, seed: 2))
        let cut = Foundation.Data(png.prefix(png.count * 6 / 10))
        XCTAssertTrue(try decodeError(cut, path: "img/cut.png").contains("cannot decode PNG"))
        let size = try ImageCodec.imageSize(cut, path: "img/cut.png")
        XCTAssertEqual([size.width, size.height], [40, 30])
        var flipped = [UInt8](png)
        flipped[png.count / 2] ^= 0x40  // inside IDAT: the CRC no longer matches
        XCTAssertTrue(try decodeError(Foundation.Data(flipped), path: "img/crc.png").contains("libpng"))
    }

    func testGarbageEmptyAndUnknownFormatsAreRejectedWithTheSupportedFormats() throws {
        var rng = SplitMix64(seed: 9)
        var random = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        random[0] = 0x42
        XCTAssertTrue(try decodeError(Foundation.Data(random), path: "r.bin").contains("JPEG and PNG"))
        XCTAssertThrowsError(try ImageCodec.decode(Foundation.Data([0xFF, 0xD8, 0xFF] + random), path: "r.jpg"))
        XCTAssertThrowsError(try ImageCodec.decode(Foundation.Data([0x89, 0x50, 0x4E, 0x47] + random), path: "r.png"))
        XCTAssertThrowsError(try ImageCodec.decode(Foundation.Data([0xFF, 0xD8, 0xFF]), path: "3.jpg"))
        XCTAssertTrue(try decodeError(Foundation.Data(), path: "empty.png").contains("empty"))
        let gif = try decodeError(Foundation.Data(Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0]), path: "a.gif")
        XCTAssertTrue(gif.contains("GIF") && gif.contains("JPEG and PNG"), gif)
        XCTAssertThrowsError(try ImageCodec.imageSize(Foundation.Data(random), path: "r.bin")) { error in
            XCTAssertTrue("\(error)".hasPrefix("r.bin: "), "\(error)")
        }
    }

    func testLoadReadsFilesAndExplainsMissingOnes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("codec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = randomImage(width: 9, height: 7, seed: 3)
        let file = directory.appendingPathComponent("x.jpg")  // a PNG, whatever the name says
        try ImageCodec.encodePNG(image).write(to: file)
        XCTAssertEqual(try ImageCodec.load(path: file.path), image)

        let missing = directory.appendingPathComponent("missing.png").path
        XCTAssertThrowsError(try ImageCodec.load(path: missing)) { error in
            XCTAssertTrue(error is DataError)
            XCTAssertTrue("\(error)".hasPrefix(missing + ": no such image file"), "\(error)")
        }
        XCTAssertThrowsError(try ImageCodec.load(path: directory.path)) { error in
            XCTAssertTrue("\(error)".contains("is a directory"), "\(error)")
        }
    }

    func testHeadersClaimingHugeImagesAreRejectedBeforeAllocating() throws {
        var jpeg = [UInt8](try ImageCodec.encodeJPEG(RGBImage(width: 16, height: 16), quality: 90))
        let sof = try XCTUnwrap(segmentOffset(jpeg, marker: 0xC0))
        jpeg.replaceSubrange((sof + 5)...(sof + 8), with: [0xEA, 0x60, 0xEA, 0x60])  // 60000 x 60000
        XCTAssertTrue(try decodeError(Foundation.Data(jpeg), path: "big.jpg").contains("over the limit"))
        let size = try ImageCodec.imageSize(Foundation.Data(jpeg), path: "big.jpg")
        XCTAssertEqual([size.width, size.height], [60000, 60000])

        let png = makePNG(width: 20000, height: 20000, bitDepth: 8, colorType: 0, rows: [[0]])
        XCTAssertTrue(try decodeError(png, path: "big.png").contains("over the limit"))
    }

    func testEncodersRejectEmptyImagesAndBadQuality() throws {
        let empty = RGBImage(width: 0, height: 5)
        XCTAssertThrowsError(try ImageCodec.encodePNG(empty, path: "out/e.png")) { error in
            XCTAssertTrue("\(error)".hasPrefix("out/e.png: "), "\(error)")
        }
        XCTAssertThrowsError(try ImageCodec.encodeJPEG(empty, quality: 90))
        for quality in [0, 101] {
            XCTAssertThrowsError(try ImageCodec.encodeJPEG(RGBImage(width: 4, height: 4), quality: quality)) { error in
                XCTAssertTrue("\(error)".contains("quality \(quality)"), "\(error)")
            }
        }
    }

    /// Random byte flips (and some truncations) of valid files: each must decode cleanly or throw a
    /// DataError naming the path, from both `decode` and `imageSize`.
    func testFlippedBytesGiveAnImageOrADataErrorNeverACrash() throws {
        let source = smoothImage(width: 40, height: 32)
        let files = [("jpg", try ImageCodec.encodeJPEG(source, quality: 90, subsampling: .yuv420)),
                     ("png", try ImageCodec.encodePNG(source))]
        for (kind, original) in files {
            var rng = SplitMix64(seed: kind == "jpg" ? 11 : 12)
            var decoded = 0, rejected = 0
            for trial in 0..<200 {
                var bytes = [UInt8](original)
                for _ in 0...(rng.next() % 4) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1 + rng.next() % 255)
                }
                if rng.next() % 8 == 0 { bytes.removeLast(Int(rng.next() % UInt64(bytes.count))) }
                let path = "fuzz/\(kind)/\(trial).\(kind)"
                do {
                    let image = try ImageCodec.decode(Foundation.Data(bytes), path: path)
                    XCTAssertEqual(image.pixels.count, image.width * image.height * 3, path)
                    decoded += 1
                } catch let error as DataError {
                    XCTAssertTrue(error.description.hasPrefix(path + ": "), error.description)
                    rejected += 1
                } catch {
                    XCTFail("\(path): not a DataError: \(error)")
                }
                do {
                    _ = try ImageCodec.imageSize(Foundation.Data(bytes), path: path)
                } catch let error as DataError {
                    XCTAssertTrue(error.description.hasPrefix(path + ": "), error.description)
                } catch {
                    XCTFail("\(path): imageSize threw a non-DataError: \(error)")
                }
            }
            XCTAssertGreaterThan(rejected, 0, "\(kind): no mutation was rejected, so the decoder checks nothing")
            XCTAssertEqual(decoded + rejected, 200)
        }
    }
}

// MARK: - Test images

private func randomImage(width: Int, height: Int, seed: UInt64) -> RGBImage {
    var rng = SplitMix64(seed: seed)
    return RGBImage(width: width, height: height,
                    pixels: (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
}

/// A photo-like image: red ramps along x, green along y, blue is a gentle wave (what JPEG is made for).
private func smoothImage(width: Int, height: Int) -> RGBImage {
    var image = RGBImage(width: width, height: height)
    for y in 0..<height {
        for x in 0..<width {
            let wave = 128 + 60 * sin(Double(x + 2 * y) / 6)
            image[x, y] = (UInt8(x * 255 / (width - 1)), UInt8(y * 255 / (height - 1)), UInt8(wave))
        }
    }
    return image
}

/// Four solid quadrants, top-left tl, top-right tr, bottom-left bl, bottom-right br.
private func quadrantImage(width: Int, height: Int, _ tl: (UInt8, UInt8, UInt8), _ tr: (UInt8, UInt8, UInt8),
                           _ bl: (UInt8, UInt8, UInt8), _ br: (UInt8, UInt8, UInt8)) -> RGBImage {
    var image = RGBImage(width: width, height: height)
    for y in 0..<height {
        for x in 0..<width {
            image[x, y] = y < height / 2 ? (x < width / 2 ? tl : tr) : (x < width / 2 ? bl : br)
        }
    }
    return image
}

private func meanAbsoluteError(_ a: RGBImage, _ b: RGBImage) -> Double {
    precondition(a.pixels.count == b.pixels.count, "images differ in size")
    return zip(a.pixels, b.pixels).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(a.pixels.count)
}

/// 16-bit sample -> 8 bits, as 255/65535 rounded.
private func to8(_ v: Int) -> UInt8 { UInt8((Double(v) * 255 / 65535).rounded()) }

private func bigEndian16(_ values: [Int]) -> [UInt8] { values.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } }

// MARK: - Assertions

private func assertPixels(_ image: RGBImage, width: Int, height: Int, _ expected: [(UInt8, UInt8, UInt8)],
                          file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual([image.width, image.height], [width, height], file: file, line: line)
    guard image.width == width, image.height == height else { return }
    for (i, e) in expected.enumerated() {
        let a = image[i % width, i / width]
        XCTAssertTrue(a == e, "pixel (\(i % width), \(i / width)): got \(a), expected \(e)", file: file, line: line)
    }
}

private func assertClose(_ a: (UInt8, UInt8, UInt8), _ e: (UInt8, UInt8, UInt8), tolerance: Int, _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) {
    let worst = max(abs(Int(a.0) - Int(e.0)), abs(Int(a.1) - Int(e.1)), abs(Int(a.2) - Int(e.2)))
    XCTAssertLessThanOrEqual(worst, tolerance, "\(what): got \(a), expected \(e)", file: file, line: line)
}

/// The description of the DataError that decoding `data` throws (failing the test if it does not
/// throw, throws something else, or the description does not start with the path).
private func decodeError(_ data: Foundation.Data, path: String, file: StaticString = #filePath,
                         line: UInt = #line) throws -> String {
    do {
        let image = try ImageCodec.decode(data, path: path)
        XCTFail("\(path) decoded to a \(image.width)x\(image.height) image instead of failing", file: file, line: line)
        return ""
    } catch let error as DataError {
        XCTAssertTrue(error.description.hasPrefix(path + ": "), error.description, file: file, line: line)
        return error.description
    }
}

// MARK: - Files built by hand

/// A PNG written byte by byte (stored deflate blocks, no filtering), independent of libpng. `rows` are
/// the packed scanlines without the filter byte (for `interlaced`, the non-empty rows of the 7 Adam7
/// passes in order); `before` chunks go between IHDR and IDAT.
private func makePNG(width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, rows: [[UInt8]],
                     interlaced: Bool = false, before: [(String, [UInt8])] = []) -> Foundation.Data {
    func u32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + body
        return u32(body.count) + typed + u32(Int(crc32(typed)))
    }
    let raw: [UInt8] = rows.flatMap { row -> [UInt8] in [0] + row }
    var zlib: [UInt8] = [0x78, 0x01]
    var start = 0
    repeat {
        let n = min(65535, raw.count - start)
        let last: UInt8 = start + n == raw.count ? 1 : 0
        zlib += [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8 & 0xFF)]
        zlib += raw[start..<(start + n)]
        start += n
    } while start < raw.count
    var a = 1, b = 0
    for byte in raw { a = (a + Int(byte)) % 65521; b = (b + a) % 65521 }
    zlib += u32(b << 16 | a)
    var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    file += chunk("IHDR", u32(width) + u32(height) + [bitDepth, colorType, 0, 0, interlaced ? 1 : 0])
    for (type, body) in before { file += chunk(type, body) }
    file += chunk("IDAT", zlib) + chunk("IEND", [])
    return Foundation.Data(file)
}

/// CRC-32 (ISO 3309, the PNG chunk checksum), bit by bit.
private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
    }
    return ~crc
}

/// `jpeg` with an XMP APP1 segment (to be skipped) and then an Exif APP1 segment inserted after SOI.
/// The Exif IFD0 holds a Make tag before the Orientation tag (type SHORT), in the given byte order;
/// its TIFF header starts at byte `exifTIFFStart`.
private func withExif(_ jpeg: Foundation.Data, orientation: Int, bigEndian: Bool) -> Foundation.Data {
    func u16(_ v: Int) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func u32(_ v: Int) -> [UInt8] { bigEndian ? u16(v >> 16) + u16(v & 0xFFFF) : u16(v & 0xFFFF) + u16(v >> 16) }
    var tiff: [UInt8] = bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]
    tiff += u16(42) + u32(8) + u16(2)
    tiff += u16(0x010F) + u16(2) + u32(4) + Array("Cam\0".utf8)  // Make, ASCII, inline
    tiff += u16(0x0112) + u16(3) + u32(1) + u16(orientation) + [0, 0]  // Orientation, SHORT
    tiff += u32(0)  // no IFD1
    let exif: [UInt8] = Array("Exif".utf8) + [0, 0] + tiff
    let app1: [UInt8] = [0xFF, 0xE1, UInt8((exif.count + 2) >> 8), UInt8((exif.count + 2) & 0xFF)] + exif
    let bytes = [UInt8](jpeg)
    return Foundation.Data(Array(bytes[0..<2]) + xmpSegment + app1 + Array(bytes[2...]))
}

/// An APP1 segment that is XMP, not Exif, with an "orientation" the decoder must not read.
private let xmpSegment: [UInt8] = {
    let body = Array("http://ns.adobe.com/xap/1.0/\0<x tiff:Orientation=\"3\"/>".utf8)
    return [0xFF, 0xE1, UInt8((body.count + 2) >> 8), UInt8((body.count + 2) & 0xFF)] + body
}()

/// Where `withExif` puts the TIFF header: after SOI, the XMP segment, the APP1 marker and length, "Exif\0\0".
private let exifTIFFStart = 2 + xmpSegment.count + 4 + 6

/// Offset of the first segment with `marker` (e.g. 0xC0 for SOF0) before SOS, walking segment lengths.
private func segmentOffset(_ jpeg: [UInt8], marker: UInt8) -> Int? {
    var i = 2
    while i + 4 <= jpeg.count, jpeg[i] == 0xFF, jpeg[i + 1] != 0xDA {
        if jpeg[i + 1] == marker { return i }
        i += 2 + (Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3]))
    }
    return nil
}

/// A JPEG made directly with TurboJPEG from `pixels` in `format` (for gray, CMYK and progressive files,
/// which `ImageCodec` does not write).
private func turboJPEG(_ pixels: [UInt8], width: Int, height: Int, format: TJPF, subsampling: TJSAMP,
                       flags: Int32 = 0) -> Foundation.Data {
    let handle = tjInitCompress()
    defer { tjDestroy(handle) }
    var output: UnsafeMutablePointer<UInt8>? = nil
    var size: UInt = 0
    defer { tjFree(output) }
    let status = tjCompress2(handle, pixels, Int32(width), 0, Int32(height), Int32(format.rawValue), &output, &size,
                             Int32(subsampling.rawValue), 95, flags)
    precondition(status == 0 && output != nil, "tjCompress2 failed: \(String(cString: tjGetErrorStr2(handle)))")
    return Foundation.Data(bytes: output!, count: Int(size))
}
