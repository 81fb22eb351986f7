// Reads a labels file of any supported format (CSV, DeepLabCut CollectedData CSV, COCO keypoints JSON,
// Ultralytics YOLO-pose dataset YAML) together with its optional
// description file, and checks that a training and a validation file describe the same keypoints.
// Also holds the few helpers the label readers share: reading a file, resolving paths, a JSON tree.
import Foundation

/// Entry point for labels files: picks the reader from the extension and merges the description file.
public enum LabelReader {
    /// Reads the labels at `path`: `.csv` (``CSVLabels``, or ``DeepLabCutLabels`` when it starts with
    /// DeepLabCut's `scorer` row), `.json` (COCO keypoints, ``COCOLabels``) or `.yaml`/`.yml` (the train
    /// split of a YOLO-pose dataset, ``YOLOPoseLabels``), then merges the description file (``DatasetDescriptionFile``): `description` when
    /// given, else `<labels basename>.keypoints.json` or `dataset.json` next to the labels file if one exists.
    ///
    /// - Parameters:
    ///   - imagesRoot: folder that relative image paths are resolved against (the CLI's `--images`);
    ///     default: the folder of the labels file. Absolute image paths are used as they are.
    ///   - skipBad: when true, a bad row (CSV) or a bad image/annotation (COCO) is left out and reported
    ///     in `skipped` instead of being thrown. File-level problems (unreadable file, bad header or
    ///     structure, no usable record, bad description file) always throw.
    /// - Returns: the records (image paths absolute, keypoints in pixels of the original image) and
    ///   `skipped`: what was not loaded and why. For COCO files, images that have no keypoint annotation are
    ///   not an error, but they are reported there as one summary entry even when `skipBad` is false.
    ///   - split: the split of a YOLO-pose YAML to read (`train`, `val`); other formats have one.
    public static func read(path: String, description: String? = nil, skipBad: Bool = false,
                            imagesRoot: String? = nil, split: String = "train") throws -> (LabelSet, skipped: [DataError]) {
        var set: LabelSet
        var skipped: [DataError]
        switch (path as NSString).pathExtension.lowercased() {
        case "csv" where DeepLabCutLabels.recognises((try? LabelFiles.contents(of: path)) ?? Foundation.Data()):
            (set, skipped) = try DeepLabCutLabels.read(path: path, imagesRoot: imagesRoot, skipBad: skipBad)
        case "csv":
            (set, skipped) = try CSVLabels.read(path: path, imagesRoot: imagesRoot, skipBad: skipBad)
        case "yaml", "yml":
            (set, skipped) = try YOLOPoseLabels.read(yaml: path, split: split, skipBad: skipBad)
        case "json":
            let coco = try COCOLabels.read(path: path, imagesRoot: imagesRoot, skipBad: skipBad)
            (set, skipped) = (coco.0, coco.skipped)
            if coco.unannotatedImages > 0 {
                skipped.append(DataError(path, "skipped \(coco.unannotatedImages) image(s) without a keypoint "
                    + "annotation; add annotations for them if they should be used"))
            }
        default:
            throw DataError(path, "unknown labels format '\((path as NSString).pathExtension)': use a .csv file "
                + "(header image,x1,y1,...,xK,yK, or DeepLabCut's CollectedData_*.csv), a COCO keypoints .json file "
                + "or an Ultralytics YOLO-pose dataset .yaml")
        }
        if let descriptionPath = description ?? DatasetDescriptionFile.locate(forLabels: path) {
            set.description = try DatasetDescriptionFile.merge(set.description, labelsFile: path,
                                                               descriptionFile: descriptionPath)
        }
        return (set, skipped)
    }

    /// Throws unless `a` and `b` (say a training and a validation file) have the same number of
    /// keypoints with the same names in the same order; the error names both files.
    public static func checkCompatible(_ a: LabelSet, _ b: LabelSet) throws {
        let na = a.description.keypointNames, nb = b.description.keypointNames
        if na.count != nb.count {
            throw DataError(b.sourceFile, "has \(nb.count) keypoints (\(list(nb))) but \(a.sourceFile) has "
                + "\(na.count) (\(list(na))): training and validation labels must describe the same keypoints")
        }
        if let i = na.indices.first(where: { na[$0] != nb[$0] }) {
            throw DataError(b.sourceFile, "keypoint \(i + 1) is '\(nb[i])' here but '\(na[i])' in \(a.sourceFile): "
                + "training and validation labels must list the same keypoints in the same order")
        }
    }

    static func list(_ names: [String]) -> String {
        names.count <= 8 ? names.joined(separator: ", ") : names.prefix(8).joined(separator: ", ") + ", ..."
    }
}

/// Reading files for the label readers, with errors that say what to do.
enum LabelFiles {
    /// The bytes of `path`; `what` names the kind of file in the error ("labels file").
    static func contents(of path: String, what: String = "labels file") throws -> Foundation.Data {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw DataError(path, "\(what) not found: check the path (relative paths start at the current folder)")
        }
        if isFolder.boolValue { throw DataError(path, "is a folder, not a \(what): give the file's path") }
        do {
            return try Foundation.Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DataError(path, "cannot read the \(what) (\(error.localizedDescription)): check its permissions")
        }
    }
}

/// Path arithmetic on plain strings, purely lexical (symbolic links are not resolved), so that the
/// same labels give the same absolute paths on every machine.
enum LabelPaths {
    /// `path` made absolute (relative paths start at `base`, default the current folder) with `.`,
    /// `..` and repeated slashes removed.
    static func absolute(_ path: String, base: String? = nil) -> String {
        let start = path.hasPrefix("/") ? path
            : (base.map { absolute($0) } ?? FileManager.default.currentDirectoryPath) + "/" + path
        var parts: [Substring] = []
        for part in start.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The absolute folder that holds `file`.
    static func folder(of file: String) -> String {
        absolute((absolute(file) as NSString).deletingLastPathComponent)
    }

    /// `path` relative to `folder` when it lies inside it, else nil. Both are made absolute first.
    static func relative(_ path: String, to folder: String) -> String? {
        let p = absolute(path), f = absolute(folder)
        let prefix = f == "/" ? "/" : f + "/"
        return p.hasPrefix(prefix) && p.count > prefix.count ? String(p.dropFirst(prefix.count)) : nil
    }
}

/// A parsed JSON document as a plain tree (numbers as Double), for readers that want to say exactly
/// which element is wrong.
enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Most common first (COCO is mostly numbers): each failed try costs a thrown error.
        if c.decodeNil() { self = .null }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let o = try? c.decode([String: JSONValue].self) { self = .object(o) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .bool(try c.decode(Bool.self)) }
    }

    /// Parses `bytes`; a syntax error becomes a `DataError` naming `file`, the parser's reason and,
    /// when the parser gives a position, its line.
    static func parse(_ bytes: Foundation.Data, file: String, what: String) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: bytes)
        } catch {
            throw DataError(file, "is not valid JSON (\(syntaxError(bytes) ?? "\(error)")): fix the syntax or "
                + "re-export the \(what)")
        }
    }

    /// JSONSerialization's description of what is wrong with `bytes` ("Invalid value around character
    /// 8."), with the line of that character added; JSONDecoder only says that the data is not valid.
    private static func syntaxError(_ bytes: Foundation.Data) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])
            return nil
        } catch {
            guard var reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String else { return nil }
            if reason.hasSuffix(".") { reason.removeLast() }
            if let range = reason.range(of: "around character "),
               let offset = Int(reason[range.upperBound...].prefix { $0.isASCII && $0.isNumber }), offset <= bytes.count {
                reason += ", line \(bytes.prefix(offset).filter { $0 == 0x0A }.count + 1)"
            }
            return reason
        }
    }

    var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    var string: String? { if case .string(let s) = self { s } else { nil } }
    var number: Double? { if case .number(let d) = self { d } else { nil } }
    /// The value as an Int when it is a number with no fractional part that fits.
    var int: Int? { number.flatMap { Int(exactly: $0) } }

    /// A short rendering for error messages (`42`, `"a.jpg"`, `[...]`).
    var brief: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let d): Int(exactly: d).map { "\($0)" } ?? "\(d)"
        case .string(let s): "\"\(s.count > 40 ? s.prefix(40) + "..." : s)\""
        case .array: "[...]"
        case .object: "{...}"
        }
    }
}
