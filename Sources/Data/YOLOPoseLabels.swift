// Ultralytics YOLO-pose datasets: a dataset YAML and one label txt per image.
//
//     path: ../datasets/tiger-pose     # dataset root (relative to the YAML's folder); default: that folder
//     train: images/train              # a folder of images, a .txt listing images, or a list of either
//     val: images/val
//     kpt_shape: [12, 2]               # K keypoints, 2 (x, y) or 3 (x, y, visibility) numbers each
//     flip_idx: [1, 0, 3, 2, ...]      # the keypoint each one becomes in a mirrored image
//     names: {0: tiger}
//     kpt_names: {0: [nose, ...]}      # optional (newer Ultralytics); else kp1..kpK
//
// The label of `.../images/x/a.jpg` is `.../labels/x/a.txt`, one line per object:
// `class cx cy w h x1 y1 [v1] ... xK yK [vK]`, all coordinates in [0, 1] of the image's width and
// height. v is COCO's 0 (not labelled), 1 (occluded), 2 (visible); with kpt_shape [K, 2] a point at
// (0, 0) is not labelled, as Ultralytics writes missing points. keypoints trains one object per image:
// an image with more lines is an error (or skipped with skipBad), one without a label file is
// skipped and reported. The box is not used.
import Foundation
import Yams

public enum YOLOPoseLabels {
    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Reads `split` (`train` or `val`) of the dataset YAML at `path`: records with keypoints in
    /// pixels of each image, and the description (names, flip pairs from flip_idx).
    public static func read(yaml path: String, split: String = "train", skipBad: Bool = false) throws -> (LabelSet, skipped: [DataError]) {
        let config = try dataset(path)
        guard let entry = config[split] else {
            throw DataError(path, "has no '\(split):' entry (the images of that split): add one, e.g. \(split): images/\(split)")
        }
        guard let shape = config["kpt_shape"]?.sequence?.compactMap(\.int), shape.count == 2, (1...1024).contains(shape[0]),
              shape[1] == 2 || shape[1] == 3 else {
            throw DataError(path, line: config["kpt_shape"]?.mark?.line,
                            "needs kpt_shape: [K, 2] or [K, 3] (K keypoints, 1 to 1024; x, y and optionally visibility)")
        }
        let k = shape[0], perPoint = shape[1]
        let names = try keypointNames(config, k: k, file: path)
        let pairs = try flipPairs(config, k: k, file: path)
        let yamlFolder = LabelPaths.folder(of: path)
        let root = config["path"]?.string.map { LabelPaths.absolute($0, base: yamlFolder) } ?? yamlFolder
        let sources = entry.sequence?.compactMap(\.string) ?? entry.string.map { [$0] } ?? []
        guard !sources.isEmpty else { throw DataError(path, line: entry.mark?.line, "'\(split):' must name a folder, a .txt list or a list of them") }
        var records: [LabelRecord] = [], skipped: [DataError] = [], unlabelled = 0
        let (found, unread) = try images(sources, root: root, yaml: path)
        if unread > 0 {
            skipped.append(DataError(path, "skipped \(unread) image(s) of '\(split)' in formats keypoints does not read (only JPEG and PNG): convert them"))
        }
        for image in found {
            let labels = labelFile(for: image)
            guard FileManager.default.fileExists(atPath: labels) else { unlabelled += 1; continue }
            do {
                guard let record = try record(image: image, labels: labels, k: k, perPoint: perPoint) else { unlabelled += 1; continue }
                records.append(record)
            } catch let e as DataError where skipBad {
                skipped.append(e)
            }
        }
        if unlabelled > 0 {
            skipped.append(DataError(path, "skipped \(unlabelled) image(s) of '\(split)' without a label (no labels/*.txt, or an empty one)"))
        }
        guard !records.isEmpty else {
            throw DataError(path, "'\(split)' has no labelled image under \(root): check path:, \(split): and the labels/ folder beside images/")
        }
        let description = DatasetDescription(keypointNames: names, flipPairs: pairs, flipPairsDeclared: config["flip_idx"] != nil)
        return (LabelSet(records: records, description: description, sourceFile: path), skipped)
    }

    /// True when `path` names a YOLO-pose dataset YAML (by its extension, as LabelReader picks it).
    public static func isDataset(_ path: String) -> Bool {
        ["yaml", "yml"].contains((path as NSString).pathExtension.lowercased())
    }

    /// True when `path` is a dataset YAML with a `val:` split: the held-out images it names itself.
    public static func hasValidationSplit(_ path: String) -> Bool { isDataset(path) && has(split: "val", yaml: path) }

    /// True when the YAML at `path` names a `split:` entry.
    public static func has(split: String, yaml path: String) -> Bool {
        (try? dataset(path))?[split] != nil
    }

    private static func dataset(_ path: String) throws -> Node {
        let text = String(decoding: try LabelFiles.contents(of: path, what: "dataset YAML"), as: UTF8.self)
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw DataError(path, "is not valid YAML (\(error)): fix the syntax")
        }
        guard let node, node.mapping != nil else {
            throw DataError(path, "must be a YOLO dataset YAML (a mapping with path, train, val, kpt_shape)")
        }
        return node
    }

    /// kpt_names (a list, or a mapping of class -> list; class 0's) or kp1..kpK.
    private static func keypointNames(_ config: Node, k: Int, file: String) throws -> [String] {
        guard let node = config["kpt_names"] else { return CSVLabels.defaultNames(k) }
        let list = node.sequence ?? node.mapping?.first?.value.sequence
        guard let names = list?.compactMap(\.string), names.count == k, Set(names).count == k else {
            throw DataError(file, line: node.mark?.line, "kpt_names must list \(k) different names (kpt_shape says \(k) keypoints)")
        }
        return names
    }

    /// flip_idx as pairs (i, flip_idx[i]) with i < flip_idx[i]; it must be a permutation that is its own inverse.
    private static func flipPairs(_ config: Node, k: Int, file: String) throws -> [[Int]] {
        guard let node = config["flip_idx"] else { return [] }
        guard let idx = node.sequence?.compactMap(\.int), idx.count == k, idx.allSatisfy({ (0..<k).contains($0) }),
              idx.indices.allSatisfy({ idx[idx[$0]] == $0 }) else {
            throw DataError(file, line: node.mark?.line, "flip_idx must give, for each of the \(k) keypoints, the index (0-based) of "
                            + "its mirror image, each pair both ways (e.g. [1, 0, 2] swaps 0 and 1)")
        }
        return idx.indices.filter { $0 < idx[$0] }.map { [$0, idx[$0]] }
    }

    /// Other image formats Ultralytics reads; counted and reported when a split folder holds them.
    static let otherImageExtensions: Set<String> = ["bmp", "webp", "tif", "tiff", "dng", "mpo", "pfm", "heic"]

    /// The images of a split, and how many in formats not read here: folders (searched recursively)
    /// and .txt lists (as Ultralytics: `./x` from the list's folder, other relative paths from the root).
    private static func images(_ sources: [String], root: String, yaml: String) throws -> ([String], unread: Int) {
        var out: [String] = [], unread = 0
        for source in sources {
            let path = LabelPaths.absolute(source, base: root)
            var folder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &folder) else {
                throw DataError(yaml, "the split's '\(source)' is not there (\(path)): check path: and the split entries "
                                + "(a relative path: is read from this YAML's folder here, where Ultralytics reads it from its datasets_dir)")
            }
            if folder.boolValue {
                let walk = FileManager.default.enumerator(atPath: path)
                while let name = walk?.nextObject() as? String {
                    let ext = (name as NSString).pathExtension.lowercased()
                    if imageExtensions.contains(ext) { out.append(path + "/" + name) } else if otherImageExtensions.contains(ext) { unread += 1 }
                }
            } else {
                let list = String(decoding: try LabelFiles.contents(of: path, what: "image list"), as: UTF8.self)
                let listFolder = LabelPaths.folder(of: path)
                out += list.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                    .map { LabelPaths.absolute($0, base: $0.hasPrefix("./") ? listFolder : root) }
            }
        }
        return (out.sorted(), unread)
    }

    /// `.../images/<rest>.<ext>` -> `.../labels/<rest>.txt` (the last `/images/` in the path).
    static func labelFile(for image: String) -> String {
        let base = (image as NSString).deletingPathExtension + ".txt"
        guard let range = base.range(of: "/images/", options: .backwards) else { return base }
        return base.replacingCharacters(in: range, with: "/labels/")
    }

    private static func record(image: String, labels: String, k: Int, perPoint: Int) throws -> LabelRecord? {
        let text = String(decoding: try LabelFiles.contents(of: labels), as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline).enumerated().filter { !$0.element.allSatisfy(\.isWhitespace) }
        guard let (first, line) = lines.first else { return nil }
        guard lines.count == 1 else {
            throw DataError(labels, "has \(lines.count) objects: keypoints trains one object per image; keep one line (or leave the image out with --skip-bad)")
        }
        let values = line.split(whereSeparator: \.isWhitespace).map { Double($0) }
        guard values.count == 5 + perPoint * k, values.allSatisfy({ $0?.isFinite == true }) else {
            throw DataError(labels, line: first + 1, "needs class, 4 box numbers and \(perPoint * k) keypoint numbers "
                            + "(kpt_shape [\(k), \(perPoint)]), got \(values.count) fields")
        }
        let size = try ImageCodec.imageSize(try LabelFiles.contents(of: image, what: "image"), path: image)
        var points = [Float](repeating: 0, count: 2 * k), visibility = [UInt8](repeating: 0, count: k)
        for j in 0..<k {
            let x = values[5 + perPoint * j]!, y = values[5 + perPoint * j + 1]!
            let v = perPoint == 3 ? values[5 + 3 * j + 2]! : (x == 0 && y == 0 ? 0 : 2)
            guard v == 0 || v == 1 || v == 2 else {
                throw DataError(labels, line: first + 1, "keypoint \(j + 1): visibility \(v) is not 0, 1 or 2")
            }
            guard v > 0 else { continue }
            points[2 * j] = Float(x * Double(size.width)); points[2 * j + 1] = Float(y * Double(size.height))
            visibility[j] = UInt8(v)
        }
        return LabelRecord(imagePath: image, keypoints: points, visibility: visibility, source: "\(labels):\(first + 1)")
    }
}
