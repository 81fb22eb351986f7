// Skipping non-finite steps, and giving up after too many in a row.

/// Counts consecutive skipped steps and says when to give up.
public struct BadStepGuard: Sendable {
    public let limit: Int
    public private(set) var consecutive = 0

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Thrown by ``skipped(_:)`` at the limit.
    public struct TooManyBadSteps: Error, CustomStringConvertible {
        public let description: String
    }

    /// A step was applied: the run of bad steps is over.
    public mutating func applied() { consecutive = 0 }

    /// Records a skipped step; throws `TooManyBadSteps` once `limit` steps in a row were skipped.
    public mutating func skipped(_ e: NonFiniteStep) throws {
        consecutive += 1
        if consecutive >= limit {
            throw TooManyBadSteps(description: "\(consecutive) steps in a row had NaN or infinite loss or gradients (last: \(e.reason)); "
                + "training stopped. Lower the learning rate (--lr), clip gradients (--clip-norm) or check the labels, "
                + "then resume from the last checkpoint")
        }
    }
}
