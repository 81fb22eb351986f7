// A seeded train/validation split of labelled records, decided per image path so that it survives
// reordering and additions.
import Foundation

/// Splits records into training and validation sets.
///
/// Each record's side depends only on (seed, its image path): u = the first 8 bytes of
/// SHA-256(seed as 8 little-endian bytes, path) read as a number in [0, 1); the record goes to
/// validation when u < `validationFraction`. So reordering the rows keeps every image on its side,
/// adding rows never moves an existing image, and removing one moves no other (except in the tiny-set
/// fix-up below). The path hashed is relative to `root` (the labels file's folder) when the image lies
/// inside it, so moving the whole dataset folder keeps the split.
///
/// When `validationFraction` > 0 and there are at least 2 records, each side gets at least one: if
/// validation came out empty, the record with the smallest u moves there; if training came out empty,
/// the one with the largest u moves there. Both outputs keep the input order.
public enum DatasetSplit {
    /// Splits `records`; `validationFraction` must be in 0...1 (the CLI checks it).
    public static func split(_ records: [LabelRecord], validationFraction: Double, seed: UInt64,
                             root: String? = nil) -> (train: [LabelRecord], validation: [LabelRecord]) {
        precondition(validationFraction >= 0 && validationFraction <= 1,
                     "validation fraction \(validationFraction) is outside 0...1")
        let u = records.map { unit(seed: seed, key: key($0.imagePath, root: root)) }
        var inValidation = u.map { $0 < validationFraction }
        if validationFraction > 0 && records.count >= 2 {
            // Ties (same u) are broken by position, which only matters for duplicate paths.
            if !inValidation.contains(true), let i = u.indices.min(by: { u[$0] < u[$1] }) { inValidation[i] = true }
            if !inValidation.contains(false), let i = u.indices.max(by: { u[$0] < u[$1] }) { inValidation[i] = false }
        }
        var train: [LabelRecord] = [], validation: [LabelRecord] = []
        for (record, isValidation) in zip(records, inValidation) {
            if isValidation { validation.append(record) } else { train.append(record) }
        }
        return (train, validation)
    }

    /// Splits the records of `set`, hashing image paths relative to the labels file's folder.
    public static func split(_ set: LabelSet, validationFraction: Double,
                             seed: UInt64) -> (train: [LabelRecord], validation: [LabelRecord]) {
        split(set.records, validationFraction: validationFraction, seed: seed,
              root: LabelPaths.folder(of: set.sourceFile))
    }

    /// The path that is hashed: relative to `root` when inside it, else absolute.
    static func key(_ path: String, root: String?) -> String {
        root.flatMap { LabelPaths.relative(path, to: $0) } ?? LabelPaths.absolute(path)
    }

    /// u in [0, 1) from SHA-256(seed, key): the top 53 bits of the digest's first 8 bytes.
    static func unit(seed: UInt64, key: String) -> Double {
        var hash = SHA256()
        hash.update(number: seed)
        hash.update(Array(key.utf8))
        let digest = hash.finalize()
        let bits = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Double(bits >> 11) * 0x1p-53
    }
}
