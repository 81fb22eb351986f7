// The Training target's error: what went wrong and what to do, naming the file or run folder.

public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
