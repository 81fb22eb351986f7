// Errors from reading or writing other tools' files (Keras HDF5 weights).

/// An error reading another tool's file; the message names the file and, where known, the layer
/// or object, and says what to do.
public struct InteropError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
