// In-memory images: 8-bit RGB pixels, row-major, the form every codec decodes to.

/// An 8-bit RGB image, row-major [height, width, 3]. Pixel (x, y) covers the square
/// [x, x+1) x [y, y+1) in continuous pixel coordinates, so its centre is (x + 0.5, y + 0.5).
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGB image \(width)x\(height) needs \(width * height * 3) bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A uniformly coloured image.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        self.width = width
        self.height = height
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { p[3 * i] = fill.0; p[3 * i + 1] = fill.1; p[3 * i + 2] = fill.2 }
        pixels = p
    }

    /// The (r, g, b) of pixel (x, y).
    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        get {
            let i = 3 * (y * width + x)
            return (pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            let i = 3 * (y * width + x)
            pixels[i] = newValue.0; pixels[i + 1] = newValue.1; pixels[i + 2] = newValue.2
        }
    }
}

/// [N*4] bytes -> [N*3] bytes, each of the first three channels times the fourth / 255, rounded.
/// It is RGBA composited on black (c * a / 255, in sRGB space) and inverted CMYK to RGB (C * K / 255).
func rgbScaledByFourthChannel(_ four: [UInt8]) -> [UInt8] {
    let count = four.count / 4
    var rgb = [UInt8](repeating: 0, count: count * 3)
    for i in 0..<count {
        let scale = Int(four[4 * i + 3])
        for c in 0..<3 { rgb[3 * i + c] = UInt8((Int(four[4 * i + c]) * scale + 127) / 255) }
    }
    return rgb
}
