// The optional description file next to a labels file: keypoint names, left/right flip pairs and the
// skeleton, merged with what the labels file itself says.
import Foundation

/// A JSON file describing the keypoints of a labels file:
///
/// ```
/// {"keypoints":  ["left_eye", "right_eye", "nose", "mouth"],
///  "flip_pairs": [["left_eye", "right_eye"]],          names or 0-based indices
///  "skeleton":   [["left_eye", "nose"], [1, 2]]}        names or 0-based indices
/// ```
/// Every key is optional; any other key is an error (a misspelt `flip_pairs` must not silently
/// disable flipping). Indices here are 0-based, unlike COCO's 1-based skeletons.
///
/// Lookup (``locate(forLabels:)``): an explicitly given file wins; otherwise `<labels basename>.keypoints.json`
/// (for `train.csv`: `train.keypoints.json`), then `dataset.json`, in the labels file's folder.
///
/// Merging (``merge(_:labelsFile:descriptionFile:)``): `keypoints` must list as many names as the labels
/// have keypoints. When the labels file names its keypoints (named CSV columns, COCO categories), the
/// names must also be the same, in the same order; when it does not (`kp1...kpK`), the description's
/// names are taken. `skeleton` replaces the labels' skeleton; `flip_pairs` sets the flip pairs and
/// marks them declared (``DatasetDescription/flipPairsDeclared``), even when the list is empty.
public enum DatasetDescriptionFile {
    /// The description file for the labels at `labelsPath`, or nil when there is none.
    public static func locate(forLabels labelsPath: String) -> String? {
        let folder = (labelsPath as NSString).deletingLastPathComponent
        let base = ((labelsPath as NSString).lastPathComponent as NSString).deletingPathExtension
        let labels = LabelPaths.absolute(labelsPath)
        for name in [base + ".keypoints.json", "dataset.json"] {
            let candidate = (folder as NSString).appendingPathComponent(name)
            var isFolder: ObjCBool = false
            if LabelPaths.absolute(candidate) != labels,
               FileManager.default.fileExists(atPath: candidate, isDirectory: &isFolder), !isFolder.boolValue {
                return candidate
            }
        }
        return nil
    }

    /// `labels` (read from `labelsFile`) merged with the description file at `path`. Errors name the
    /// description file, and the labels file when the two disagree.
    public static func merge(_ labels: DatasetDescription, labelsFile: String,
                             descriptionFile path: String) throws -> DatasetDescription {
        let bytes = try LabelFiles.contents(of: path, what: "description file")
        return try merge(labels, labelsFile: labelsFile, json: bytes, descriptionFile: path)
    }

    /// As ``merge(_:labelsFile:descriptionFile:)``, with the description file's bytes already read.
    public static func merge(_ labels: DatasetDescription, labelsFile: String, json: Foundation.Data,
                             descriptionFile path: String) throws -> DatasetDescription {
        func fail(_ message: String) -> DataError { DataError(path, message) }
        guard let top = try JSONValue.parse(json, file: path, what: "description file").object else {
            throw fail("must be a JSON object such as {\"keypoints\": [...], \"flip_pairs\": [...], \"skeleton\": [...]}")
        }
        let known = ["keypoints", "flip_pairs", "skeleton"]
        if let unknown = top.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("unknown key '\(unknown)': a description file has \(known.joined(separator: ", "))")
        }
        var merged = labels
        let k = labels.keypointCount
        if let value = top["keypoints"] {
            guard let list = value.array, list.allSatisfy({ $0.string?.isEmpty == false }) else {
                throw fail("keypoints must be a list of names (strings)")
            }
            let names = list.map { $0.string! }
            if let duplicate = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
                throw fail("keypoints lists '\(duplicate)' twice: keypoint names must be unique")
            }
            if names.count != k {
                throw fail("lists \(names.count) keypoints (\(LabelReader.list(names))) but \(labelsFile) has \(k) "
                    + "(\(LabelReader.list(labels.keypointNames))): make both describe the same keypoints in the same order")
            }
            if labels.keypointNames != CSVLabels.defaultNames(k), let i = names.indices.first(where: { names[$0] != labels.keypointNames[$0] }) {
                throw fail("keypoint \(i + 1) is '\(names[i])' here but '\(labels.keypointNames[i])' in \(labelsFile): "
                    + "make both list the same keypoints in the same order")
            }
            merged.keypointNames = names
        }
        let names = merged.keypointNames
        if let value = top["flip_pairs"] {
            let pairs = try pairList(value, key: "flip_pairs", names: names, fail: fail)
            var pairOf: [Int: Int] = [:]
            for (i, pair) in pairs.enumerated() {
                for keypoint in pair {
                    if let j = pairOf[keypoint] {
                        throw fail("keypoint '\(names[keypoint])' is in flip_pairs[\(j)] and flip_pairs[\(i)]: each "
                            + "keypoint swaps with at most one other")
                    }
                    pairOf[keypoint] = i
                }
            }
            merged.flipPairs = pairs
            merged.flipPairsDeclared = true
        }
        if let value = top["skeleton"] {
            merged.skeleton = try pairList(value, key: "skeleton", names: names, fail: fail)
        }
        return merged
    }

    /// `[[a, b], ...]` with each end a keypoint name or 0-based index, as pairs of indices.
    private static func pairList(_ value: JSONValue, key: String, names: [String],
                                 fail: (String) -> DataError) throws -> [[Int]] {
        guard let list = value.array else { throw fail("\(key) must be a list of [a, b] pairs") }
        var pairs: [[Int]] = []
        for (i, item) in list.enumerated() {
            guard let ends = item.array, ends.count == 2 else {
                throw fail("\(key)[\(i)] is not a pair [a, b] of keypoint names or 0-based indices")
            }
            var pair: [Int] = []
            for end in ends {
                if let name = end.string {
                    guard let index = names.firstIndex(of: name) else {
                        throw fail("\(key)[\(i)] names an unknown keypoint '\(name)': known names are "
                            + names.joined(separator: ", "))
                    }
                    pair.append(index)
                } else if let index = end.int {
                    guard names.indices.contains(index) else {
                        throw fail("\(key)[\(i)] has index \(index), out of range 0...\(names.count - 1): indices "
                            + "here are 0-based")
                    }
                    pair.append(index)
                } else {
                    throw fail("\(key)[\(i)] has \(end.brief): use a keypoint name or a 0-based index")
                }
            }
            if pair[0] == pair[1] {
                throw fail("\(key)[\(i)] joins keypoint '\(names[pair[0]])' with itself: give two different keypoints")
            }
            pairs.append(pair)
        }
        return pairs
    }

    /// `description` as a description file (names, declared flip pairs, skeleton; indices 0-based),
    /// which ``merge(_:labelsFile:descriptionFile:)`` reads back to the same description.
    public static func encode(_ description: DatasetDescription) throws -> Foundation.Data {
        var top: [String: Any] = ["keypoints": description.keypointNames, "skeleton": description.skeleton]
        if description.flipPairsDeclared { top["flip_pairs"] = description.flipPairs }
        return try JSONSerialization.data(withJSONObject: top, options: [.prettyPrinted, .sortedKeys])
    }
}
