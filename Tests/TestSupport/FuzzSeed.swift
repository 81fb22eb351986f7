// Seeds for the fuzz tests: fixed by default so that every run tries the same inputs, replaced by
// $KEYPOINTS_FUZZ_SEED to try others or replay a failure. The seed in use is always printed.
import Compute
import Foundation

public enum FuzzSeed {
    /// The seed for `test`: $KEYPOINTS_FUZZ_SEED when set, else `fixed`. Prints it with the line
    /// that replays the test.
    public static func seed(_ fixed: UInt64, test: String = #function, file: String = #fileID) -> UInt64 {
        let given = ProcessInfo.processInfo.environment["KEYPOINTS_FUZZ_SEED"].flatMap { UInt64($0) }
        let seed = given ?? fixed
        let suite = file.split(separator: "/").last.map { String($0.dropLast(6)) } ?? file
        print("fuzz seed \(seed) for \(suite).\(test) (replay: KEYPOINTS_FUZZ_SEED=\(seed) swift test --filter "
              + "\(suite)/\(test.replacingOccurrences(of: "()", with: "")))")
        return seed
    }

    /// A random generator for `test`, seeded as `seed(_:test:file:)` says.
    public static func generator(_ fixed: UInt64, test: String = #function, file: String = #fileID) -> SplitMix64 {
        SplitMix64(seed: seed(fixed, test: test, file: file))
    }
}
