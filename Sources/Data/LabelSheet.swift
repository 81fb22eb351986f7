// A contact sheet for checking labels by eye: each image fitted into a square tile with its
// keypoints drawn in their colours (filled when visible, a ring when occluded) and named, its file
// name underneath, and a colour key of every keypoint on top.
import Foundation

public enum LabelSheet {
    /// The sheet of `dataset`'s images at `indices`, `tile` pixels per image, `columns` wide
    /// (default: about square). Undecodable images get a tile that says so.
    public static func render(_ dataset: KeypointDataset, indices: [Int], tile: Int = 256, columns: Int? = nil,
                              font: Font, small: Font) -> RGBImage {
        let names = dataset.description.keypointNames
        let tiles = indices.map { i in self.tile(dataset, i, side: tile, names: names, font: small) }
        let columns = columns ?? max(1, Int(Double(tiles.count).squareRoot().rounded(.up)))
        let grid = RGBImage.grid(tiles, columns: columns)
        let key = colourKey(names, width: grid.width, font: font)
        var sheet = RGBImage(width: grid.width, height: key.height + grid.height, fill: (16, 16, 16))
        for y in 0..<key.height { for x in 0..<key.width { sheet[x, y] = key[x, y] } }
        for y in 0..<grid.height { for x in 0..<grid.width { sheet[x, key.height + y] = grid[x, y] } }
        return sheet
    }

    /// One image fitted into `side` x `side` (letterboxed on dark grey) with its labels.
    static func tile(_ dataset: KeypointDataset, _ i: Int, side: Int, names: [String], font: Font) -> RGBImage {
        let record = dataset.labels.records[i]
        let caption = (record.imagePath as NSString).lastPathComponent
        guard let image = try? ImageCodec.decode(dataset.images[i], path: record.imagePath) else {
            var out = RGBImage(width: side, height: side, fill: (60, 0, 0))
            font.label("cannot decode \(caption)", into: &out, x: 4, y: side / 2, colour: (255, 255, 255))
            return out
        }
        var out = image.fitted(into: side)
        let scale = min(Double(side) / Double(image.width), Double(side) / Double(image.height))
        let ox = Double(side - max(1, Int(Double(image.width) * scale))) / 2, oy = Double(side - max(1, Int(Double(image.height) * scale))) / 2
        let r = max(3, Double(side) / 64)
        for edge in dataset.description.skeleton where edge.count == 2 && edge.allSatisfy({ record.visibility[$0] > 0 }) {
            let (a, b) = (edge[0], edge[1])
            out.drawLine(ox + Double(record.keypoints[2 * a]) * scale, oy + Double(record.keypoints[2 * a + 1]) * scale,
                         ox + Double(record.keypoints[2 * b]) * scale, oy + Double(record.keypoints[2 * b + 1]) * scale, colour: (255, 255, 255))
        }
        let points = names.indices.filter { record.visibility[$0] > 0 }.map { j in
            (j, ox + Double(record.keypoints[2 * j]) * scale, oy + Double(record.keypoints[2 * j + 1]) * scale)
        }
        // Names first, then the points over them, so that no name hides a point.
        for (j, x, y) in points where x.isFinite && y.isFinite && abs(x) < 1e5 && abs(y) < 1e5 {
            font.label(names[j], into: &out, x: Int(x + r + 2), y: Int(y - Double(font.pixelHeight) / 2),
                       colour: keypointPalette[j % keypointPalette.count])
        }
        for (j, x, y) in points {
            let colour = keypointPalette[j % keypointPalette.count]
            out.drawDisc(x: x, y: y, radius: r + 1, colour: (0, 0, 0))
            if record.visibility[j] == Visibility.occluded.rawValue {
                out.drawRing(x: x, y: y, radius: r, thickness: 2, colour: colour)
            } else {
                out.drawDisc(x: x, y: y, radius: r, colour: colour)
            }
        }
        font.label(caption, into: &out, x: 2, y: side - font.pixelHeight - 4, colour: (230, 230, 230))
        return out
    }

    /// A strip naming every keypoint beside a swatch of its colour, in rows as wide as `width`.
    static func colourKey(_ names: [String], width: Int, font: Font) -> RGBImage {
        let rowHeight = font.pixelHeight + 10, swatch = font.pixelHeight
        var placed: [(x: Int, row: Int)] = [], x = 8, row = 0
        for name in names {
            let w = swatch + 6 + font.width(name) + 16
            if x + w > width && x > 8 { x = 8; row += 1 }
            placed.append((x, row))
            x += w
        }
        var key = RGBImage(width: width, height: (row + 1) * rowHeight + 6, fill: (16, 16, 16))
        for (j, name) in names.enumerated() {
            let (px, r) = placed[j], y = 6 + r * rowHeight
            let colour = keypointPalette[j % keypointPalette.count]
            for dy in 0..<swatch { for dx in 0..<swatch where px + dx < width { key[px + dx, y + dy] = colour } }
            font.draw(name, into: &key, x: px + swatch + 6, y: y - 1, colour: (235, 235, 235))
        }
        return key
    }
}
