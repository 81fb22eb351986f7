// How pixels become network inputs, in one place: what the data pipeline renders, what the saved
// model's manifest and the ONNX graph say, and what drawing an input back to pixels undoes.

/// Keras MobileNet's input convention: x = pixel / 127.5 - 1, RGB pixels 0...255 to [-1, 1].
public enum InputNormalization {
    /// The divisor, and the mid-grey pixel value that maps to 0 (used to pad letterboxed frames).
    public static let scale: Float = 127.5

    /// A pixel value (0...255, clamped) as a network input in [-1, 1].
    @inline(__always)
    public static func input(fromPixel p: Float) -> Float { min(max(p, 0), 255) / scale - 1 }

    /// A network input in [-1, 1] as a pixel value (0...255, clamped).
    @inline(__always)
    public static func pixel(fromInput x: Float) -> Float { max(0, min(255, (x + 1) * scale)) }

    /// The convention in words, for manifests and exported metadata.
    public static let formula = "x = pixel / 127.5 - 1"
}
