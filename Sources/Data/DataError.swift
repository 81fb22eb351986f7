// Errors about input data: every message names the file (and line, where there is one) and says
// what to do about it.

/// A problem with a dataset file or image. `location` is `path` or `path:line`.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let location: String
    public let message: String

    public init(_ path: String, line: Int? = nil, _ message: String) {
        location = line.map { "\(path):\($0)" } ?? path
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}
