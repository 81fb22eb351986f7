// Learning-rate schedules as a function of the global step.
#if canImport(Glibc)
import Glibc
#endif

/// How the learning rate moves with the step (0-based). Rates are `base * factor(step)`.
public enum LearningRateSchedule: Sendable, Equatable, Codable {
    case constant
    /// Multiply by `gamma` every `every` steps.
    case step(every: Int, gamma: Float)
    /// Linear warm-up from 0 over `warmup` steps, then cosine decay to `base * floor` at `total`.
    case cosine(warmup: Int, total: Int, floor: Float)

    /// The cosine schedule's end as a fraction of the base rate (1%).
    public static let defaultCosineFloor: Float = 0.01

    public func factor(at step: Int) -> Float {
        switch self {
        case .constant:
            return 1
        case .step(let every, let gamma):
            return Float(Glibc.pow(Double(gamma), Double(step / max(every, 1))))
        case .cosine(let warmup, let total, let floor):
            if step < warmup { return Float(step + 1) / Float(warmup) }
            let span = max(total - warmup, 1)
            let progress = min(Double(step - warmup) / Double(span), 1)
            return floor + (1 - floor) * Float(0.5 * (1 + cos(Double.pi * progress)))
        }
    }
}
