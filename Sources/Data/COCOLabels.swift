// Keypoint labels in the COCO keypoints JSON format: images, one keypoint annotation per image, and the
// keypoint category that names the keypoints and their skeleton.
import Foundation

/// COCO keypoints files (as written by COCO, CVAT, Label Studio, MMPose tools):
///
/// ```
/// {"images":      [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}, ...],
///  "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "keypoints": [x1, y1, v1, ..., xK, yK, vK]}, ...],
///  "categories":  [{"id": 1, "keypoints": ["nose", ...], "skeleton": [[1, 2], ...]}]}
/// ```
/// - Keypoints are in pixels of the original image; v is COCO's 0 (not labelled, coordinates ignored
///   and stored as 0), 1 (labelled, occluded) or 2 (visible).
/// - Keypoint names and the skeleton come from the one category that has `keypoints` (more than one
///   such category is an error). COCO skeletons are 1-based; they are stored 0-based. Without such a
///   category the names are `kp1...kpK`, K from the first annotation.
/// - One object per image: this trainer predicts one set of K keypoints per image, so an image with
///   more than one keypoint annotation is an error naming the image (skipped with `skipBad`) rather than
///   silently training on one object while the others count as background. Crowd annotations
///   (`iscrowd` 1), annotations without `keypoints`, and annotations of another category are ignored.
/// - Images without a keypoint annotation are skipped and counted (`unannotatedImages`).
/// - `file_name` is relative to the JSON's folder (or `imagesRoot`); absolute paths are allowed.
/// - Errors name the file and the image or annotation id (JSON has no useful line numbers).
public enum COCOLabels {
    /// Reads the COCO keypoints file at `path`. With `skipBad`, bad images and annotations are left out
    /// and returned in `skipped`; otherwise the first one throws. Broken JSON, a missing `images` or
    /// `annotations` list, bad categories, or a file without any usable image always throw.
    public static func read(path: String, imagesRoot: String? = nil, skipBad: Bool = false) throws
        -> (LabelSet, skipped: [DataError], unannotatedImages: Int) {
        let bytes = try LabelFiles.contents(of: path)
        return try parse(bytes, file: path, imagesRoot: imagesRoot ?? LabelPaths.folder(of: path), skipBad: skipBad)
    }

    /// Parses COCO JSON `bytes` that came from `file`; relative `file_name`s resolve against `imagesRoot`.
    public static func parse(_ bytes: Foundation.Data, file: String, imagesRoot: String, skipBad: Bool = false) throws
        -> (LabelSet, skipped: [DataError], unannotatedImages: Int) {
        let root = LabelPaths.absolute(imagesRoot)
        var skipped: [DataError] = []
        func bad(_ message: String) throws {
            let error = DataError(file, message)
            if !skipBad { throw error }
            skipped.append(error)
        }
        func fatal(_ message: String) -> DataError { DataError(file, message) }

        guard let top = try JSONValue.parse(bytes, file: file, what: "COCO file").object else {
            throw fatal("is not a COCO keypoints file: the top level must be an object with images, "
                + "annotations and categories")
        }
        guard let images = top["images"]?.array, let annotations = top["annotations"]?.array else {
            throw fatal("is not a COCO keypoints file: it needs an \"images\" list and an \"annotations\" list")
        }
        var category = try keypointCategory(top["categories"], fatal: fatal)

        // Images, in file order.
        var imageList: [(id: String, name: String)] = []
        var imageIndex: [String: Int] = [:]
        for (i, value) in images.enumerated() {
            guard let image = value.object else { try bad("images[\(i)] is not an object: give {\"id\", \"file_name\"}"); continue }
            guard let id = image["id"].flatMap(idKey) else {
                try bad("images[\(i)] has no id (a number): give each image a unique id"); continue
            }
            guard let name = image["file_name"]?.string, !name.isEmpty else {
                try bad("image \(id) has no file_name: give the image's path relative to the JSON's folder"); continue
            }
            if let j = imageIndex[id] {
                try bad("image id \(id) is used twice (images[\(j)] and images[\(i)]): image ids must be unique"); continue
            }
            imageIndex[id] = imageList.count
            imageList.append((id, name))
        }

        // Keypoint annotations, grouped by image.
        var byImage: [String: [(label: String, keypoints: JSONValue)]] = [:]
        for (i, value) in annotations.enumerated() {
            guard let annotation = value.object else { try bad("annotations[\(i)] is not an object"); continue }
            let label = annotation["id"].flatMap(idKey).map { "annotation \($0)" } ?? "annotations[\(i)]"
            guard let keypoints = annotation["keypoints"] else { continue }
            if let wanted = category.id, let other = annotation["category_id"].flatMap(idKey), other != wanted { continue }
            if annotation["iscrowd"] == .number(1) || annotation["iscrowd"] == .bool(true) { continue }
            guard let imageID = annotation["image_id"].flatMap(idKey) else {
                try bad("\(label) has no image_id: give the id of the image it labels"); continue
            }
            guard imageIndex[imageID] != nil else {
                try bad("\(label) refers to image_id \(imageID), which is not in images: fix the id or add the image")
                continue
            }
            if category.names == nil {
                guard let n = keypoints.array?.count, n > 0, n % 3 == 0 else {
                    throw fatal("has no category with keypoint names, and \(label)'s keypoints are not x, y, v "
                        + "triples, so the number of keypoints is unknown: add a category with \"keypoints\": [names]")
                }
                category.names = CSVLabels.defaultNames(n / 3)
            }
            byImage[imageID, default: []].append((label, keypoints))
        }

        // One record per annotated image.
        let names = category.names ?? []
        var records: [LabelRecord] = []
        var unannotated = 0
        var firstImage: [String: String] = [:]   // absolute path -> image id
        for image in imageList {
            let what = "image \(image.id) (\(image.name))"
            guard let found = byImage[image.id] else { unannotated += 1; continue }
            guard found.count == 1 else {
                try bad("\(what) has \(found.count) keypoint annotations (\(found.map(\.label).joined(separator: ", "))): "
                    + "this trainer learns one object per image; keep one annotation, crop each object into its "
                    + "own image, or skip bad records")
                continue
            }
            let annotation = found[0]
            let path = LabelPaths.absolute(image.name, base: root)
            if let other = firstImage[path] {
                try bad("\(what) is the same file as image \(other): keep one image entry per file"); continue
            }
            do {
                let (keypoints, visibility) = try values(annotation.keypoints, count: names.count,
                                                         context: "\(annotation.label) of \(what)", file: file)
                firstImage[path] = image.id
                records.append(LabelRecord(imagePath: path, keypoints: keypoints, visibility: visibility,
                                           source: "\(file) \(annotation.label)"))
            } catch let error as DataError {
                try bad(error.message)
            }
        }
        if records.isEmpty {
            if let first = skipped.first {
                throw fatal("none of its images could be used (first problem: \(first.message)): fix the annotations")
            }
            throw fatal("no image has a keypoint annotation (\(imageList.count) images, \(annotations.count) "
                + "annotations): add annotations with \"keypoints\": [x1, y1, v1, ...] and an image_id")
        }
        let skeleton = category.skeleton.map { $0.map { $0 - 1 } }
        let description = DatasetDescription(keypointNames: names, skeleton: skeleton)
        return (LabelSet(records: records, description: description, sourceFile: file), skipped, unannotated)
    }

    /// The keypoint category: its id (to ignore other categories' annotations), names and 1-based skeleton.
    private static func keypointCategory(_ value: JSONValue?, fatal: (String) -> DataError) throws
        -> (id: String?, names: [String]?, skeleton: [[Int]]) {
        guard let value else { return (nil, nil, []) }
        guard let categories = value.array else { throw fatal("categories is not a list") }
        let withKeypoints = categories.indices.filter { categories[$0].object?["keypoints"] != nil }
        if withKeypoints.count > 1 {
            throw fatal("has \(withKeypoints.count) categories with keypoints (categories \(withKeypoints)): this "
                + "trainer learns one set of keypoints; keep one category (and its annotations)")
        }
        guard let c = withKeypoints.first, let category = categories[c].object else { return (nil, nil, []) }
        let place = "categories[\(c)]"
        guard let list = category["keypoints"]?.array, !list.isEmpty else {
            throw fatal("\(place).keypoints must be a non-empty list of keypoint names")
        }
        var names: [String] = []
        for (i, v) in list.enumerated() {
            guard let name = v.string, !name.isEmpty else {
                throw fatal("\(place).keypoints[\(i)] is \(v.brief), not a name: list the keypoint names as strings")
            }
            if let j = names.firstIndex(of: name) {
                throw fatal("\(place).keypoints lists '\(name)' twice (\(j) and \(i)): keypoint names must be unique")
            }
            names.append(name)
        }
        var skeleton: [[Int]] = []
        if let s = category["skeleton"] {
            guard let pairs = s.array else { throw fatal("\(place).skeleton is not a list of [a, b] pairs") }
            for (i, p) in pairs.enumerated() {
                guard let pair = p.array?.compactMap(\.int), pair.count == 2, p.array?.count == 2,
                      pair.allSatisfy({ (1...names.count).contains($0) }), pair[0] != pair[1] else {
                    throw fatal("\(place).skeleton[\(i)] is \(p.array.map { "[" + $0.map(\.brief).joined(separator: ", ") + "]" } ?? p.brief): "
                        + "each entry must join two different keypoints numbered 1...\(names.count) (COCO skeletons are 1-based)")
                }
                skeleton.append(pair)
            }
        }
        return (category["id"].flatMap(idKey), names, skeleton)
    }

    /// An id as a dictionary key: an integral number or a string.
    private static func idKey(_ value: JSONValue) -> String? {
        if let i = value.int { return "\(i)" }
        if let s = value.string, !s.isEmpty { return s }
        return nil
    }

    /// Keypoints [2K] and visibility [K] from COCO's [x1, y1, v1, ...]; v = 0 gives coordinates 0.
    private static func values(_ value: JSONValue, count k: Int, context: String, file: String) throws
        -> ([Float], [UInt8]) {
        guard let list = value.array, list.count == 3 * k else {
            let got = value.array.map { "\($0.count) values" } ?? value.brief
            throw DataError(file, "\(context): keypoints has \(got), expected \(3 * k) (x, y, v for each of the \(k) "
                + "keypoints named in categories): fix the annotation")
        }
        var keypoints = [Float](repeating: 0, count: 2 * k)
        var visibility = [UInt8](repeating: 0, count: k)
        for i in 0..<k {
            guard let v = list[3 * i + 2].int, (0...2).contains(v) else {
                throw DataError(file, "\(context): visibility of keypoint \(i + 1) is \(list[3 * i + 2].brief): use 0 "
                    + "(not labelled), 1 (labelled, occluded) or 2 (visible)")
            }
            guard let x = list[3 * i].number, let y = list[3 * i + 1].number,
                  Float(x).isFinite, Float(y).isFinite else {
                throw DataError(file, "\(context): keypoint \(i + 1) has coordinates \(list[3 * i].brief), "
                    + "\(list[3 * i + 1].brief): give finite numbers in pixels (0, 0, 0 for a keypoint that is not labelled)")
            }
            if v == 0 { continue }
            keypoints[2 * i] = Float(x)
            keypoints[2 * i + 1] = Float(y)
            visibility[i] = UInt8(v)
        }
        return (keypoints, visibility)
    }
}
