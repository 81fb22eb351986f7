// The keypoints-onnx package (python/) installed with pip for real, then the three lines of the
// README on images of several sizes and aspect ratios, and on transparent, palette, 16-bit and
// EXIF-rotated ones, against `keypoints predict` to 0.01 px (scripts/check-python-inference.py).
import Data
import Foundation
import TestSupport
import XCTest

final class PythonInferenceTests: XCTestCase {
    func testPipInstalledPackageMatchesPredictToAHundredthOfAPixel() throws {
        let python = try PythonScripts.interpreter()
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cards = dir.appendingPathComponent("cards"), run = dir.appendingPathComponent("run")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "16", "--size", "64"]).status, 0)
        let train = try BinaryRunner.run(["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25",
                                          "--input-size", "96", "--hidden", "16", "--epochs", "1", "--batch-size", "8", "--out", run.path])
        XCTAssertEqual(train.status, 0, train.stdout + train.stderr)
        let onnx = dir.appendingPathComponent("model.onnx")
        let export = try BinaryRunner.run(["export", "--model", run.path, "--format", "onnx", "--out", onnx.path])
        XCTAssertEqual(export.status, 0, export.stdout + export.stderr)

        // Images wider, taller, smaller and larger than the 96 px input, as PNG and JPEG.
        let images = dir.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for (i, (w, h)) in [(80, 50), (37, 91), (640, 480), (1200, 300), (96, 96)].enumerated() {
            var image = RGBImage(width: w, height: h, fill: (40, 90, 160))
            for y in 0..<h { for x in 0..<w where (x * 7 / w + y * 5 / h) % 2 == 0 { image[x, y] = (UInt8(x * 255 / w), UInt8(y * 255 / h), 30) } }
            image.drawDisc(x: Double(w) * 0.3, y: Double(h) * 0.6, radius: Double(min(w, h)) / 5, colour: (250, 240, 20))
            try ImageCodec.encodePNG(image).write(to: images.appendingPathComponent("image\(i).png"))
            try ImageCodec.encodeJPEG(image, quality: 90).write(to: images.appendingPathComponent("image\(i).jpg"))
        }
        // And those whose decoding could differ: transparency, palette, 16-bit gray, EXIF rotation.
        let made = try PythonScripts.run("check-python-inference.py", ["--make-images", images.path])
        XCTAssertEqual(made.status, 0, made.output)
        let predictions = dir.appendingPathComponent("predictions.json")
        let predict = try BinaryRunner.run(["predict", "--model", run.path, images.path, "--format", "json", "--out", predictions.path])
        XCTAssertEqual(predict.status, 0, predict.stdout + predict.stderr)

        let site = dir.appendingPathComponent("site")
        let install = try runChild(URL(fileURLWithPath: python), ["-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                                                                  "--target", site.path, PythonScripts.repositoryRoot.appendingPathComponent("python").path])
        XCTAssertEqual(install.status, 0, "pip install ./python: " + install.stdout + install.stderr)
        let check = try PythonScripts.run("check-python-inference.py", [site.path, onnx.path, predictions.path])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.contains("check-python-inference: OK: 14 images"), check.output)
        print(check.output)
    }
}
