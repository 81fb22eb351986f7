// Errors from the model layer: bad configurations, saved models that do not load.

/// A model-level error whose message says what is wrong and what to do.
public struct ModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
