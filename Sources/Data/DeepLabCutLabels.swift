// DeepLabCut's labels, `PROJECT/labeled-data/<video>/CollectedData_<scorer>.csv`, single animal:
// the CSV that DeepLabCut's labelling GUI saves beside its .h5.
//
//     scorer,Mackenzie,Mackenzie,Mackenzie,Mackenzie          row 1: the labeller, once per column
//     bodyparts,snout,snout,leftear,leftear                   row 2: each body part over its x and y
//     coords,x,y,x,y                                          row 3: which coordinate
//     labeled-data/reach1/img001.png,312.5,207.1,,            then one row per frame
//
// DeepLabCut 2.2 and later write the image as three index cells (`labeled-data,reach1,img001.png`)
// and pad the header rows with empty cells to match. Paths are relative to the project folder
// (two above the CSV). An empty or NaN cell is a body part not labelled in that frame. DeepLabCut
// has no occlusion flag: labelled points are visible. Multi-animal projects (an `individuals`
// header row) are refused with what to do.
import Foundation

public enum DeepLabCutLabels {
    /// True when `bytes` start like a CollectedData file (its first cell is `scorer`).
    public static func recognises(_ bytes: Foundation.Data) -> Bool {
        let start = String(decoding: bytes.prefix(64), as: UTF8.self).drop { $0 == "\u{FEFF}" }
        return start.hasPrefix("scorer,")
    }

    /// Reads the CollectedData CSV at `path`. Image paths resolve against `imagesRoot` when given,
    /// else the project folder. With `skipBad`, bad rows are left out and returned in `skipped`.
    public static func read(path: String, imagesRoot: String? = nil, skipBad: Bool = false) throws -> (LabelSet, skipped: [DataError]) {
        let bytes = try LabelFiles.contents(of: path)
        let all = CSVLabels.lines(of: bytes)
        if let (n, _) = all.first(where: { $0.1 == nil }) {
            throw DataError(path, line: n, "is not UTF-8 text: save the file as UTF-8")
        }
        let lines = all.compactMap { n, text in text!.allSatisfy(\.isWhitespace) ? nil : (n, text!) }
        guard lines.count >= 3 else {
            throw DataError(path, "a DeepLabCut CollectedData file needs three header rows (scorer, bodyparts, coords): "
                            + "re-save it from DeepLabCut's labelling GUI")
        }
        let scorer = try CSVLabels.fields(of: lines[0].1, file: path, line: lines[0].0)
        let parts = try CSVLabels.fields(of: lines[1].1, file: path, line: lines[1].0)
        if parts.first == "individuals" {
            throw DataError(path, line: lines[1].0, "is a multi-animal DeepLabCut file (an individuals row): keypoints trains "
                            + "one animal per image; export a single-animal project, or one individual's columns")
        }
        let coords = try CSVLabels.fields(of: lines[2].1, file: path, line: lines[2].0)
        guard parts.first == "bodyparts", coords.first == "coords" else {
            throw DataError(path, line: lines[1].0, "rows 2 and 3 must start with 'bodyparts' and 'coords' (DeepLabCut's header)")
        }
        // Index cells: `scorer` plus the empty cells after it (DeepLabCut 2.2+: three).
        let index = 1 + scorer.dropFirst().prefix { $0.isEmpty }.count
        guard scorer.count == parts.count, parts.count == coords.count, (parts.count - index) % 2 == 0, parts.count > index else {
            throw DataError(path, line: lines[0].0, "the header rows must have the same number of cells, two (x, y) per body part")
        }
        var names: [String] = []
        for c in stride(from: index, to: parts.count, by: 2) {
            guard parts[c] == parts[c + 1], coords[c] == "x", coords[c + 1] == "y", !parts[c].isEmpty else {
                throw DataError(path, line: lines[2].0, "columns \(c + 1) and \(c + 2) must be one body part's x and y "
                                + "(got \(parts[c])/\(coords[c]) and \(parts[c + 1])/\(coords[c + 1]))")
            }
            guard !names.contains(parts[c]) else {
                throw DataError(path, line: lines[1].0, "body part '\(parts[c])' appears twice")
            }
            names.append(parts[c])
        }
        let root = imagesRoot.map { LabelPaths.absolute($0) } ?? projectFolder(of: path)
        var records: [LabelRecord] = [], skipped: [DataError] = []
        for (number, text) in lines.dropFirst(3) {
            do {
                records.append(try record(text, file: path, line: number, index: index, keypoints: names.count, root: root))
            } catch let e as DataError where skipBad {
                skipped.append(e)
            }
        }
        guard !records.isEmpty else {
            throw DataError(path, "has no labelled frames" + (skipped.isEmpty ? "" : " (every row was bad)")
                            + ": label some in DeepLabCut first")
        }
        return (LabelSet(records: records, description: DatasetDescription(keypointNames: names), sourceFile: path), skipped)
    }

    /// The project folder: two above the CSV when it sits in `labeled-data/<video>/`, else its own.
    static func projectFolder(of csv: String) -> String {
        let folder = LabelPaths.folder(of: csv)
        let parent = (folder as NSString).deletingLastPathComponent
        return (parent as NSString).lastPathComponent == "labeled-data" ? (parent as NSString).deletingLastPathComponent : folder
    }

    private static func record(_ text: String, file: String, line: Int, index: Int, keypoints k: Int, root: String) throws -> LabelRecord {
        let cells = try CSVLabels.fields(of: text, file: file, line: line)
        guard cells.count == index + 2 * k else {
            throw DataError(file, line: line, "has \(cells.count) cells, the header \(index + 2 * k)")
        }
        // Older DeepLabCut on Windows wrote labeled-data\\video\\img.png.
        let image = cells[0..<index].filter { !$0.isEmpty }.joined(separator: "/").replacingOccurrences(of: "\\", with: "/")
        guard !image.isEmpty else { throw DataError(file, line: line, "has no image path") }
        var points = [Float](repeating: 0, count: 2 * k), visibility = [UInt8](repeating: 0, count: k)
        for j in 0..<k {
            let x = cells[index + 2 * j].trimmingCharacters(in: .whitespaces), y = cells[index + 2 * j + 1].trimmingCharacters(in: .whitespaces)
            let missing = { (s: String) in s.isEmpty || s.lowercased() == "nan" }
            if missing(x) && missing(y) { continue }
            guard let px = Double(x), let py = Double(y), px.isFinite, py.isFinite else {
                throw DataError(file, line: line, "body part \(j + 1): '\(x)', '\(y)' are not coordinates (numbers, or both empty)")
            }
            points[2 * j] = Float(px); points[2 * j + 1] = Float(py)
            visibility[j] = Visibility.visible.rawValue
        }
        return LabelRecord(imagePath: LabelPaths.absolute(image, base: root), keypoints: points, visibility: visibility,
                           source: "\(file):\(line)")
    }
}
