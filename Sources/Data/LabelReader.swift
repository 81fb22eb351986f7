// Reads a labels file of any supported format (CSV for now) and checks that a training and a
// validation file describe the same keypoints.
// Also holds the few helpers the label readers share: reading a file, resolving paths, a JSON tree.
import Foundation

/// Entry point for labels files: picks the reader from the extension and merges the description file.
public enum LabelReader {
    /// Reads the labels at `path`: `.csv` (see ``CSVLabels``).
    ///
    /// - Parameters:
    ///   - imagesRoot: folder that relative image paths are resolved against (the CLI's `--images`);
    ///     default: the folder of the labels file. Absolute image paths are used as they are.
    ///   - skipBad: when true, a bad row is left out and reported in `skipped` instead of being thrown.
    ///     File-level problems (unreadable file, bad header, no usable record) always throw.
    /// - Returns: the records (image paths absolute, keypoints in pixels of the original image) and
    ///   `skipped`: what was not loaded and why.
    public static func read(path: String, skipBad: Bool = false,
                            imagesRoot: String? = nil) throws -> (LabelSet, skipped: [DataError]) {
        switch (path as NSString).pathExtension.lowercased() {
        case "csv":
            return try CSVLabels.read(path: path, imagesRoot: imagesRoot, skipBad: skipBad)
        default:
            throw DataError(path, "unknown labels format '\((path as NSString).pathExtension)': use a .csv file "
                + "(header image,x1,y1,...,xK,yK)")
        }
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
