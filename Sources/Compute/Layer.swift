// The contract every layer follows: explicit forward and backward, training mode as an argument.

/// Whether a forward pass trains (batch statistics, dropout) or infers (running statistics, no dropout).
public enum Mode: Sendable, Equatable {
    /// Training; `seed` drives every random choice of the pass (dropout masks), so a pass is
    /// reproducible whichever process runs it.
    case training(seed: UInt64)
    case inference

    public var isTraining: Bool { if case .training = self { return true } else { return false } }
}

/// A network layer with an explicit forward and backward (llm.c style).
///
/// - `forward` returns a tensor owned by the layer (reused on the next call with the same batch
///   size) and caches what `backward` needs.
/// - `backward` takes the gradient of the loss with respect to the last output and returns the
///   gradient with respect to the last input (nil when `computesInputGradient` is false). Parameter
///   gradients are *written* (not accumulated) into the layer's gradient slices.
public protocol Layer: AnyObject {
    /// Output dims for input dims.
    func outputDims(for input: [Int]) -> [Int]
    func forward(_ x: Tensor, mode: Mode) throws -> Tensor
    func backward(_ dy: Tensor) throws -> Tensor?
    /// False for the first layer of a network, whose input gradient nobody needs.
    var computesInputGradient: Bool { get set }
    /// False for frozen layers: backward then skips parameter gradients (and leaves them untouched).
    var computesParameterGradients: Bool { get set }
}
