// Keypoint labels as CSV, one row per image: reading (with file:line errors) and writing the same
// format, so that predictions can be fed back as labels.
import Foundation

/// CSV labels: a header, then one row per image.
///
/// ```
/// image,x1,y1,x2,y2,x3,y3,x4,y4                      numbered keypoints, named kp1...kpK
/// image,top_left_x,top_left_y,top_left_v,...          named keypoints (<name>_x, <name>_y, <name>_v)
/// ```
/// - Columns may come in any order; K is the number of keypoints the header names, in the order of their
///   numbers, or (named columns) in the order in which each name first appears. Each keypoint needs an
///   x and a y column; a visibility column (`v3` or `<name>_v`, COCO 0/1/2) is optional. Numbered and
///   named columns cannot be mixed, and any other column is an error (so that a typo is not ignored).
/// - Coordinates are in pixels of the original image, continuous, (0, 0) at the top-left corner of the
///   top-left pixel. Empty x and y cells, or v = 0, mean "not labelled" (visibility 0, coordinates 0);
///   a row without a v column is visible (2) where it has coordinates.
/// - Image paths are relative to the CSV's folder (or `imagesRoot`); absolute paths are allowed.
/// - Fields may be quoted (`"a, b.jpg"`, `""` for a quote inside); a quoted field must close on its
///   line. CRLF line ends, a UTF-8 byte-order mark, blank lines and lines starting with `#` (comments)
///   are accepted; quote a path that starts with `#`.
public enum CSVLabels {
    /// Reads the CSV at `path`. With `skipBad`, bad rows are left out and returned in `skipped`;
    /// otherwise the first bad row throws. A bad header or a file without rows always throws.
    public static func read(path: String, imagesRoot: String? = nil,
                            skipBad: Bool = false) throws -> (LabelSet, skipped: [DataError]) {
        let bytes = try LabelFiles.contents(of: path)
        return try parse(bytes, file: path, imagesRoot: imagesRoot ?? LabelPaths.folder(of: path), skipBad: skipBad)
    }

    /// Parses CSV `bytes` that came from `file` (named in errors and in each record's `source`); relative
    /// image paths are resolved against `imagesRoot`.
    public static func parse(_ bytes: Foundation.Data, file: String, imagesRoot: String,
                             skipBad: Bool = false) throws -> (LabelSet, skipped: [DataError]) {
        let root = LabelPaths.absolute(imagesRoot)
        var header: Header?
        var records: [LabelRecord] = []
        var skipped: [DataError] = []
        var firstLine: [String: Int] = [:]   // image path -> line of its first row
        var rows = 0
        for (number, decoded) in lines(of: bytes) {
            guard let text = decoded else {
                let error = DataError(file, line: number, "this line is not UTF-8 text: save the file as UTF-8")
                if header == nil || !skipBad { throw error }
                rows += 1
                skipped.append(error)
                continue
            }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let columns = header else {
                header = try Header(fields: try fields(of: text, file: file, line: number), file: file, line: number)
                continue
            }
            rows += 1
            do {
                let record = try columns.record(try fields(of: text, file: file, line: number),
                                                file: file, line: number, root: root)
                if let earlier = firstLine[record.imagePath] {
                    throw DataError(file, line: number, "image \(record.imagePath) is already labelled at line "
                        + "\(earlier): keep one row per image")
                }
                firstLine[record.imagePath] = number
                records.append(record)
            } catch let error as DataError {
                if !skipBad { throw error }
                skipped.append(error)
            }
        }
        guard let columns = header else {
            throw DataError(file, "has no header: the first line must be a header such as image,x1,y1,x2,y2 "
                + "followed by one row per image")
        }
        if records.isEmpty {
            if let first = skipped.first {
                throw DataError(file, "none of its \(rows) rows could be read (first: \(first)): fix the rows")
            }
            throw DataError(file, "has a header but no rows: add one row per image (\(columns.example))")
        }
        let description = DatasetDescription(keypointNames: columns.names)
        return (LabelSet(records: records, description: description, sourceFile: file), skipped)
    }

    /// CSV text for `records` in the format ``read(path:imagesRoot:skipBad:)`` accepts, with a visibility
    /// column per keypoint and `\n` line ends. Columns are named `<name>_x,<name>_y,<name>_v` unless the
    /// names are the defaults `kp1...kpK` (or cannot be header names), then `x1,y1,v1,...`.
    /// Image paths inside `folder` are written relative to it, others absolute. Unlabelled keypoints, and
    /// keypoints with a non-finite coordinate, are written as empty x and y with v = 0.
    /// Every record must have `names.count` keypoints; image paths must not contain line breaks.
    public static func write(_ records: [LabelRecord], names: [String], relativeTo folder: String) -> String {
        let k = names.count
        let numbered = names == defaultNames(k) || Set(names).count != k
            || names.contains { $0.isEmpty || $0.contains(where: \.isNewline) }
        var columns = ["image"]
        for (i, name) in names.enumerated() {
            columns += numbered ? ["x\(i + 1)", "y\(i + 1)", "v\(i + 1)"] : [name + "_x", name + "_y", name + "_v"]
        }
        var out = columns.map(quoted).joined(separator: ",") + "\n"
        for record in records {
            precondition(record.keypointCount == k && record.keypoints.count == 2 * k,
                         "\(record.source): record has \(record.keypointCount) keypoints, names \(k)")
            var fields = [quoted(LabelPaths.relative(record.imagePath, to: folder) ?? LabelPaths.absolute(record.imagePath))]
            for i in 0..<k {
                let x = record.keypoints[2 * i], y = record.keypoints[2 * i + 1], v = record.visibility[i]
                fields += v == 0 || !x.isFinite || !y.isFinite ? ["", "", "0"] : ["\(x)", "\(y)", "\(v)"]
            }
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }

    /// `kp1 ... kpK`: the names of keypoints that the labels file does not name.
    public static func defaultNames(_ k: Int) -> [String] { (0..<k).map { "kp\($0 + 1)" } }

    // MARK: - Lines and fields

    /// The file's lines as (1-based line number, text), without the BOM and line ends; the text is nil
    /// for a line that is not valid UTF-8.
    static func lines(of bytes: Foundation.Data) -> [(Int, String?)] {
        var all = [UInt8](bytes)
        if all.starts(with: [0xEF, 0xBB, 0xBF]) { all.removeFirst(3) }
        var result: [(Int, String?)] = []
        var number = 0
        for var line in all.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            if line.last == 0x0D { line = line.dropLast() }
            result.append((number, String(validating: line, as: UTF8.self)))
        }
        return result
    }

    /// Splits one line into fields. Unquoted fields are trimmed of spaces and tabs; quoted fields are kept
    /// as written, with `""` standing for one quote.
    static func fields(of line: String, file: String, line number: Int) throws -> [String] {
        enum State { case start, plain, quoted, quoteInQuoted, afterQuoted }
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var state = State.start
        func finish(trim: Bool) {
            var s = String(field)
            if trim { s = s.trimmingCharacters(in: .whitespaces) }
            fields.append(s)
            field = String.UnicodeScalarView()
        }
        func stray() -> DataError {
            DataError(file, line: number, "field \(fields.count + 1) has text after its closing quote: "
                + "write a quote inside a quoted field as \"\"")
        }
        for s in line.unicodeScalars {
            let blank = s == " " || s == "\t"
            switch state {
            case .start:
                if s == "," { finish(trim: true) } else if s == "\"" { state = .quoted }
                else if !blank { field.append(s); state = .plain }
            case .plain:
                if s == "," { finish(trim: true); state = .start } else { field.append(s) }
            case .quoted:
                if s == "\"" { state = .quoteInQuoted } else { field.append(s) }
            case .quoteInQuoted:
                if s == "\"" { field.append(s); state = .quoted }
                else if s == "," { finish(trim: false); state = .start }
                else if blank { state = .afterQuoted }
                else { throw stray() }
            case .afterQuoted:
                if s == "," { finish(trim: false); state = .start } else if !blank { throw stray() }
            }
        }
        if state == .quoted {
            throw DataError(file, line: number, "field \(fields.count + 1) opens a quote that does not close on "
                + "this line: close it with \" (fields cannot span lines)")
        }
        finish(trim: state != .quoteInQuoted && state != .afterQuoted)
        return fields
    }

    /// A field quoted when it needs to be (comma, quote, line break, surrounding blanks, leading `#`).
    static func quoted(_ field: String) -> String {
        let needs = field.contains { $0 == "," || $0 == "\"" || $0.isNewline } || field.hasPrefix("#")
            || field.first?.isWhitespace == true || field.last?.isWhitespace == true
        return needs ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }

    // MARK: - Header and rows

    /// Where each keypoint's columns are.
    struct Header {
        var width: Int
        var image: Int
        var x: [Int], y: [Int], v: [Int?]
        var names: [String]
        var columnNames: [String]

        /// A header row like the expected one, for hints.
        var example: String { columnNames.prefix(5).joined(separator: ",") + (columnNames.count > 5 ? ",..." : "") }

        init(fields: [String], file: String, line: Int) throws {
            func fail(_ message: String) -> DataError { DataError(file, line: line, "header: " + message) }
            let expected = "expected image,x1,y1,...,xK,yK (optionally v1...vK) or image,<name>_x,<name>_y,..."
            var image: Int?
            var seen: [String: Int] = [:]
            // (keypoint key, axis) per column; key is the 1-based number or the name.
            var numbered: [Int: [Character: Int]] = [:]
            var named: [String: [Character: Int]] = [:]
            var namedOrder: [String] = []
            for (i, raw) in fields.enumerated() {
                let lower = raw.lowercased()
                if raw.isEmpty { throw fail("column \(i + 1) has no name; \(expected)") }
                if let j = seen[raw] { throw fail("column '\(raw)' appears twice (columns \(j + 1) and \(i + 1)); keep one") }
                seen[raw] = i
                if lower == "image" {
                    if let j = image { throw fail("two image columns (columns \(j + 1) and \(i + 1)); keep one") }
                    image = i
                    continue
                }
                if let axis = lower.first, "xyv".contains(axis), lower.count > 1,
                   lower.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }) {
                    // Bounds K by the header's width before anything is allocated.
                    guard let n = Int(lower.dropFirst()), n >= 1, n <= fields.count else {
                        throw fail("column '\(raw)': keypoints are numbered 1...K without gaps, and this header "
                            + "has \(fields.count) columns; \(expected)")
                    }
                    if numbered[n]?[axis] != nil { throw fail("column '\(raw)' appears twice; keep one") }
                    numbered[n, default: [:]][axis] = i
                    continue
                }
                if raw.count > 2, let axis = lower.last, "xyv".contains(axis), lower.dropLast().hasSuffix("_") {
                    let name = String(raw.dropLast(2))
                    if named[name] == nil { namedOrder.append(name) }
                    if named[name]?[axis] != nil { throw fail("column '\(raw)' appears twice; keep one") }
                    named[name, default: [:]][axis] = i
                    continue
                }
                throw fail("unknown column '\(raw)' (column \(i + 1)); \(expected)")
            }
            guard let image else { throw fail("no 'image' column; \(expected)") }
            if !numbered.isEmpty && !named.isEmpty {
                throw fail("mixes numbered columns (x1, y1) and named ones (<name>_x); use one style")
            }
            var keys: [(name: String, columns: [Character: Int], label: (Character) -> String)] = []
            if !numbered.isEmpty {
                let k = numbered.keys.max()!
                for n in 1...k {
                    keys.append(("kp\(n)", numbered[n] ?? [:], { "\($0)\(n)" }))
                }
            } else {
                for name in namedOrder { keys.append((name, named[name]!, { "\(name)_\($0)" })) }
            }
            if keys.isEmpty { throw fail("no keypoint columns; \(expected)") }
            for key in keys {
                for (have, need) in [("x", "y"), ("y", "x"), ("v", "x")] where key.columns[Character(have)] != nil {
                    if key.columns[Character(need)] == nil {
                        throw fail("column '\(key.label(Character(have)))' has no matching '\(key.label(Character(need)))': "
                            + "every keypoint needs an x and a y column")
                    }
                }
                if key.columns["x"] == nil {
                    throw fail("keypoint '\(key.name)' has no x and y columns: number keypoints 1...K without gaps")
                }
            }
            width = fields.count
            self.image = image
            x = keys.map { $0.columns["x"]! }
            y = keys.map { $0.columns["y"]! }
            v = keys.map { $0.columns["v"] }
            names = keys.map(\.name)
            columnNames = fields
        }

        /// The record of one data row; throws a `DataError` naming `file:line` when the row is bad.
        func record(_ fields: [String], file: String, line: Int, root: String) throws -> LabelRecord {
            func fail(_ message: String) -> DataError { DataError(file, line: line, message) }
            guard fields.count == width else {
                throw fail("row has \(fields.count) columns but the header has \(width) (\(example)): "
                    + "check for a missing or extra comma, and quote paths that contain commas")
            }
            let path = fields[image]
            if path.isEmpty { throw fail("the image column is empty: give the image's path") }
            var keypoints = [Float](repeating: 0, count: 2 * names.count)
            var visibility = [UInt8](repeating: 0, count: names.count)
            for k in 0..<names.count {
                let xs = fields[x[k]], ys = fields[y[k]]
                var flag: UInt8?
                if let c = v[k] {
                    let text = fields[c]
                    if !text.isEmpty {
                        guard let value = Self.number(text), let f = UInt8(exactly: value), f <= 2 else {
                            throw fail("\(columnNames[c]) = '\(text)' is not a visibility: use 0 (not labelled), "
                                + "1 (labelled, occluded) or 2 (visible), as in COCO")
                        }
                        flag = f
                    }
                }
                if xs.isEmpty != ys.isEmpty {
                    let (set, empty) = xs.isEmpty ? (y[k], x[k]) : (x[k], y[k])
                    throw fail("\(columnNames[set]) is set but \(columnNames[empty]) is empty: give both "
                        + "coordinates, or neither for a keypoint that is not labelled")
                }
                if xs.isEmpty {
                    if let flag, flag != 0 {
                        throw fail("\(columnNames[v[k]!]) = \(flag) says labelled but \(columnNames[x[k]]) and "
                            + "\(columnNames[y[k]]) are empty: give the coordinates or set the visibility to 0")
                    }
                    continue
                }
                let px = try coordinate(xs, column: columnNames[x[k]], fail: fail)
                let py = try coordinate(ys, column: columnNames[y[k]], fail: fail)
                let f = flag ?? 2
                if f == 0 { continue }
                keypoints[2 * k] = px
                keypoints[2 * k + 1] = py
                visibility[k] = f
            }
            return LabelRecord(imagePath: LabelPaths.absolute(path, base: root), keypoints: keypoints,
                               visibility: visibility, source: "\(file):\(line)")
        }

        private func coordinate(_ text: String, column: String, fail: (String) -> DataError) throws -> Float {
            if let value = Self.number(text), let f = Float(text), f.isFinite, value.isFinite { return f }
            let lower = text.lowercased()
            if Self.number(text) != nil || ["nan", "inf", "infinity", "+inf", "-inf", "-infinity", "+infinity"].contains(lower) {
                throw fail("\(column) = '\(text)' is not a finite number: coordinates are pixels of the original "
                    + "image; leave x and y empty for a keypoint that is not labelled")
            }
            throw fail("\(column) = '\(text)' is not a number: coordinates are pixels of the original image "
                + "such as 12.5; leave x and y empty for a keypoint that is not labelled")
        }

        /// A plain decimal number (digits, sign, point, exponent; no hex, no nan/inf words).
        static func number(_ text: String) -> Double? {
            guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }) else {
                return nil
            }
            return Double(text)
        }
    }
}
