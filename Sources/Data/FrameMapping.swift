// How an original image is fitted into the square network input, and back: stretch or letterbox.

/// How images of any size become `size` x `size` network inputs.
public enum ResizeMode: String, Sendable, Codable, CaseIterable {
    /// Scale x and y independently to fill the square (aspect ratio changes).
    case stretch
    /// Scale uniformly to fit inside the square and pad the rest (aspect ratio kept, centred).
    case letterbox
}

/// The mapping from an original image's pixels to the network input's pixels (both continuous
/// coordinates). Predictions in network pixels come back with ``toOriginal``.
public struct FrameMapping: Sendable, Equatable {
    public let transform: Affine

    public init(width: Int, height: Int, size: Int, mode: ResizeMode) {
        let sx = Double(size) / Double(width), sy = Double(size) / Double(height)
        switch mode {
        case .stretch:
            transform = .scale(sx, sy)
        case .letterbox:
            let s = min(sx, sy)
            transform = Affine.translation((Double(size) - Double(width) * s) / 2,
                                           (Double(size) - Double(height) * s) / 2).after(.scale(s, s))
        }
    }

    /// Original pixels -> network input pixels.
    public func toNetwork(_ x: Double, _ y: Double) -> (x: Double, y: Double) { transform.apply(x, y) }

    /// Network input pixels -> original pixels.
    public func toOriginal(_ x: Double, _ y: Double) -> (x: Double, y: Double) { transform.inverse.apply(x, y) }
}
