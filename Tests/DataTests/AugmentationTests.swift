// Labels follow pixels: every geometric change moves a drawn dot and its keypoint to the same
// place; flips swap declared pairs; letterbox and stretch map coordinates exactly both ways.
import Data
import XCTest

final class AugmentationTests: XCTestCase {
    /// A black image with one white 3x3 dot centred on (x, y) (original pixels).
    private func dotImage(width: Int, height: Int, x: Int, y: Int) -> RGBImage {
        var image = RGBImage(width: width, height: height)
        for dy in -1...1 { for dx in -1...1 { image[x + dx, y + dy] = (255, 255, 255) } }
        return image
    }

    /// The brightness-weighted centroid of the rendered image's first channel, in network pixels.
    private func centroid(_ pixels: [Float], size: Int) -> (Double, Double) {
        var sx = 0.0, sy = 0.0, sw = 0.0
        for y in 0..<size {
            for x in 0..<size {
                let w = Double(pixels[y * size + x] + 1) // [-1, 1] -> [0, 2]; background is 0
                guard w > 1.2 else { continue }
                sx += w * (Double(x) + 0.5); sy += w * (Double(y) + 0.5); sw += w
            }
        }
        return (sx / sw, sy / sw)
    }

    private func description(pairs: [[Int]] = [], declared: Bool = true) -> DatasetDescription {
        DatasetDescription(keypointNames: ["a", "b"], flipPairs: pairs, flipPairsDeclared: declared)
    }

    func testEveryGeometricAugmentationMovesTheDotAndItsKeypointTogether() {
        let size = 64
        var config = AugmentationConfig()
        config.rotation = 30; config.scaleMin = 0.7; config.scaleMax = 1.3; config.translation = 0.1; config.shear = 10
        config.flipProbability = 0.5
        config.brightness = 0; config.contrast = 0; config.saturation = 0; config.blurProbability = 0; config.noise = 0
        for mode in ResizeMode.allCases {
            let renderer = SampleRenderer(size: size, resize: mode, description: description())
            for index in 0..<24 {
                let image = dotImage(width: 120, height: 90, x: 40 + index, y: 30 + index / 2)
                let kp: [Float] = [Float(40 + index) + 0.5, Float(30 + index / 2) + 0.5, 10, 10]
                let aug = config.draw(seed: 7, epoch: 1, index: index)
                let out = renderer.render(image, keypoints: kp, visibility: [2, 2], augmentation: aug)
                guard out.mask[0] == 1 else { continue }
                let (cx, cy) = centroid(out.pixels, size: size)
                XCTAssertEqual(cx, Double(out.targets[0]) * Double(size), accuracy: 0.75, "\(mode) sample \(index) x")
                XCTAssertEqual(cy, Double(out.targets[1]) * Double(size), accuracy: 0.75, "\(mode) sample \(index) y")
            }
        }
    }

    func testFlipMirrorsAndSwapsDeclaredPairs() {
        let renderer = SampleRenderer(size: 32, resize: .stretch, description: description(pairs: [[0, 1]]))
        var flip = SampleAugmentation()
        flip.flip = true
        let out = renderer.render(RGBImage(width: 32, height: 32), keypoints: [4, 10, 20, 12], visibility: [2, 1], augmentation: flip)
        // Keypoint a was at x=4; mirrored it is at 28 and, being a's partner, b now holds it.
        XCTAssertEqual(out.targets, [12.0 / 32, 12.0 / 32, 28.0 / 32, 10.0 / 32])
        XCTAssertEqual(out.mask, [1, 1])
    }

    func testFlippingWithoutDeclaredPairsIsRefusedWithAHint() {
        var config = AugmentationConfig()
        config.flipProbability = 0.5
        XCTAssertThrowsError(try config.validate(for: description(declared: false), labels: "labels.csv")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("labels.csv"), text)
            XCTAssertTrue(text.contains("flip_pairs"), text)
        }
        XCTAssertNoThrow(try config.validate(for: description(declared: true), labels: "labels.csv"))
    }

    func testKeypointPushedOutOfTheFrameIsMasked() {
        let renderer = SampleRenderer(size: 32, resize: .stretch, description: description())
        var shift = SampleAugmentation()
        shift.translateX = 0.5
        let out = renderer.render(RGBImage(width: 32, height: 32), keypoints: [24, 5, 4, 5], visibility: [2, 2], augmentation: shift)
        XCTAssertEqual(out.mask, [0, 1])
        let unlabelled = renderer.render(RGBImage(width: 32, height: 32), keypoints: [4, 5, 4, 5], visibility: [0, 2])
        XCTAssertEqual(unlabelled.mask, [0, 1])
    }

    func testLetterboxAndStretchMapCoordinatesExactlyBothWays() {
        for mode in ResizeMode.allCases {
            let m = FrameMapping(width: 640, height: 480, size: 224, mode: mode)
            for (x, y) in [(0.0, 0.0), (640.0, 480.0), (123.25, 77.5), (639.5, 0.5)] {
                let n = m.toNetwork(x, y)
                let back = m.toOriginal(n.x, n.y)
                XCTAssertEqual(back.x, x, accuracy: 1e-9)
                XCTAssertEqual(back.y, y, accuracy: 1e-9)
            }
        }
        // Letterbox keeps the aspect ratio and centres: 640x480 -> scale 0.35, 28 px bands top and bottom.
        let lb = FrameMapping(width: 640, height: 480, size: 224, mode: .letterbox)
        XCTAssertEqual(lb.toNetwork(0, 0).x, 0, accuracy: 1e-9)
        XCTAssertEqual(lb.toNetwork(0, 0).y, 28, accuracy: 1e-9)
        XCTAssertEqual(lb.toNetwork(640, 480).y, 196, accuracy: 1e-9)
        let st = FrameMapping(width: 640, height: 480, size: 224, mode: .stretch)
        XCTAssertEqual(st.toNetwork(640, 480).y, 224, accuracy: 1e-9)
    }

    func testAugmentationDependsOnlyOnSeedEpochAndIndex() {
        let config = AugmentationConfig()
        XCTAssertEqual(config.draw(seed: 1, epoch: 2, index: 3), config.draw(seed: 1, epoch: 2, index: 3))
        XCTAssertNotEqual(config.draw(seed: 1, epoch: 2, index: 3), config.draw(seed: 1, epoch: 2, index: 4))
        XCTAssertNotEqual(config.draw(seed: 1, epoch: 2, index: 3), config.draw(seed: 1, epoch: 3, index: 3))
        // Rendering with noise and blur is reproducible too.
        let renderer = SampleRenderer(size: 32, resize: .letterbox, description: description())
        let image = dotImage(width: 50, height: 40, x: 20, y: 20)
        var c = config
        c.blurProbability = 1
        let a = renderer.render(image, keypoints: [20.5, 20.5, 1, 1], visibility: [2, 2], augmentation: c.draw(seed: 5, epoch: 0, index: 9))
        let b = renderer.render(image, keypoints: [20.5, 20.5, 1, 1], visibility: [2, 2], augmentation: c.draw(seed: 5, epoch: 0, index: 9))
        XCTAssertEqual(a.pixels, b.pixels)
        XCTAssertEqual(a.targets, b.targets)
    }

    func testColourJitterKeepsGreyGreyAndScalesBrightness() {
        let renderer = SampleRenderer(size: 8, resize: .stretch, description: description())
        var aug = SampleAugmentation()
        aug.brightness = 1.5
        aug.saturation = 0.3
        let out = renderer.render(RGBImage(width: 8, height: 8, fill: (100, 100, 100)), keypoints: [1, 1, 2, 2],
                                  visibility: [2, 2], augmentation: aug)
        for v in out.pixels { XCTAssertEqual(v, 150 / 127.5 - 1, accuracy: 1e-4) }
    }

    func testLoaderReturnsBatchesInOrderAndReportsFailingSamples() {
        let renderer = SampleRenderer(size: 16, resize: .stretch, description: description())
        let loader = BatchLoader(source: { index in
            if index == 3 { throw DataError("img3.png", "cannot decode PNG") }
            return (RGBImage(width: 20, height: 20, fill: (UInt8(index * 10), 0, 0)), [5, 5, 6, 6], [2, 2])
        }, renderer: renderer, augmentation: .none, seed: 0, threads: 3, prefetch: 2)
        let batches = [[0, 1, 2], [3, 4], [5]]
        loader.start(epoch: 0, batches: batches)
        var got: [[Int]] = []
        while let b = loader.next() {
            got.append(b.indices)
            XCTAssertEqual(b.images.count, b.count * 3 * 16 * 16)
            XCTAssertEqual(b.images[0], Float(b.indices[0] * 10) / 127.5 - 1, accuracy: 1e-5)
            if b.indices == [4] { XCTAssertEqual(b.failures.map(\.location), ["img3.png"]) }
        }
        XCTAssertEqual(got, [[0, 1, 2], [4], [5]])
    }
}

final class MirrorTests: XCTestCase {
    func testMirroringMovesXAndSwapsPairsAndIsItsOwnInverse() {
        let points: [Float] = [10, 5, 30, 6, 20, 40]   // left eye, right eye, nose in a 100 px wide image
        let m = mirroredKeypoints(points, width: 100, flipPairs: [[0, 1]])
        XCTAssertEqual(m, [70, 6, 90, 5, 80, 40])
        XCTAssertEqual(mirroredKeypoints(m, width: 100, flipPairs: [[0, 1]]), points)
        // The image mirrors the same way: the pixel at x lands at width - 1 - x.
        var image = RGBImage(width: 4, height: 1)
        image[0, 0] = (255, 0, 0)
        let mirrored = image.mirrored()
        XCTAssertEqual(mirrored[3, 0].0, 255)
        XCTAssertEqual(mirrored[0, 0].0, 0)
    }
}
