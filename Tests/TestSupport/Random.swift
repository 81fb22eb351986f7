// Seeded random test data drawn from Compute's SplitMix64, so every test sees the same numbers on
// every machine and run.
import Compute

/// `count` floats uniform in `range`, from `SplitMix64(seed:)`.
public func randomArray(_ count: Int, seed: UInt64, in range: ClosedRange<Float> = -1...1) -> [Float] {
    var rng = SplitMix64(seed: seed)
    let width = range.upperBound - range.lowerBound
    return (0..<count).map { _ in range.lowerBound + width * rng.nextUnit() }
}

/// `count` floats uniform in `range`, redrawn until each is at least `margin` away from every point
/// in `avoiding` (e.g. the kinks of ReLU6), so that central differences never straddle a kink.
public func randomArray(_ count: Int, seed: UInt64, in range: ClosedRange<Float>,
                        avoiding points: [Float], margin: Float) -> [Float] {
    var rng = SplitMix64(seed: seed)
    let width = range.upperBound - range.lowerBound
    return (0..<count).map { _ in
        while true {
            let v = range.lowerBound + width * rng.nextUnit()
            if points.allSatisfy({ abs(v - $0) >= margin }) { return v }
        }
    }
}

/// `count` floats from a normal distribution with the given mean and standard deviation.
public func randomNormalArray(_ count: Int, seed: UInt64, mean: Float = 0, std: Float = 1) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in mean + std * rng.nextNormal() }
}
