// Tests of the seeded train/validation split (deterministic, stable under reordering and additions,
// never an empty side) and of the dataset fingerprint (SHA-256 vectors, what changes it, what does not).
import Foundation
import XCTest
@testable import Data

final class SplitFingerprintTests: XCTestCase {
    func records(_ names: [String], root: String = "/data") -> [LabelRecord] {
        names.map { LabelRecord(imagePath: root + "/" + $0, keypoints: [1, 2], visibility: [2], source: "t") }
    }

    func testSplitIsDeterministicAndFollowsTheFraction() {
        let all = records((0..<400).map { "img\($0).jpg" })
        let a = DatasetSplit.split(all, validationFraction: 0.25, seed: 7)
        let b = DatasetSplit.split(all, validationFraction: 0.25, seed: 7)
        XCTAssertEqual(a.train, b.train)
        XCTAssertEqual(a.validation, b.validation)
        XCTAssertEqual(a.train.count + a.validation.count, 400)
        XCTAssertTrue((70...130).contains(a.validation.count), "\(a.validation.count) of 400 at fraction 0.25")
        XCTAssertEqual(a.train, all.filter { !a.validation.contains($0) }, "input order is kept")
        let other = DatasetSplit.split(all, validationFraction: 0.25, seed: 8)
        XCTAssertNotEqual(Set(other.validation.map(\.imagePath)), Set(a.validation.map(\.imagePath)), "the seed matters")
        XCTAssertEqual(DatasetSplit.split(all, validationFraction: 0, seed: 7).validation, [])
    }

    func testSplitIsStableWhenRowsAreReorderedAddedOrTheFolderMoves() {
        let names = (0..<300).map { "img\($0).jpg" }
        let base = Set(DatasetSplit.split(records(names), validationFraction: 0.3, seed: 1).validation.map(\.imagePath))
        var shuffled = names
        var rng = SeededGenerator(state: 99)
        shuffled.shuffle(using: &rng)
        let reordered = DatasetSplit.split(records(shuffled), validationFraction: 0.3, seed: 1)
        XCTAssertEqual(Set(reordered.validation.map(\.imagePath)), base)
        let grown = DatasetSplit.split(records(shuffled + (0..<100).map { "new\($0).jpg" }), validationFraction: 0.3, seed: 1)
        XCTAssertEqual(Set(grown.validation.map(\.imagePath)).filter { !$0.contains("new") }, base)
        // Hashing paths relative to the labels folder: a moved dataset splits the same way.
        let here = DatasetSplit.split(records(names, root: "/a/ds"), validationFraction: 0.3, seed: 1, root: "/a/ds")
        let moved = DatasetSplit.split(records(names, root: "/b/c/ds"), validationFraction: 0.3, seed: 1, root: "/b/c/ds")
        XCTAssertEqual(here.validation.map { ($0.imagePath as NSString).lastPathComponent },
                       moved.validation.map { ($0.imagePath as NSString).lastPathComponent })
        let set = LabelSet(records: records(names, root: "/b/c/ds"), description: DatasetDescription(keypointNames: ["a"]),
                           sourceFile: "/b/c/ds/labels.csv")
        XCTAssertEqual(DatasetSplit.split(set, validationFraction: 0.3, seed: 1).validation, moved.validation)
    }

    func testEachSideGetsAtLeastOneRecord() {
        for seed in 0..<20 as Range<UInt64> {
            let two = records(["a.jpg", "b.jpg"])
            for fraction in [0.001, 0.5, 0.999, 1] {
                let s = DatasetSplit.split(two, validationFraction: fraction, seed: seed)
                XCTAssertEqual([s.train.count, s.validation.count], [1, 1], "seed \(seed) fraction \(fraction)")
            }
            let few = records(["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"])
            let tiny = DatasetSplit.split(few, validationFraction: 1e-9, seed: seed)
            XCTAssertEqual(tiny.validation.count, 1)
            XCTAssertEqual(tiny.train.count, 4)
        }
        let one = DatasetSplit.split(records(["a.jpg"]), validationFraction: 0.5, seed: 3)
        XCTAssertEqual(one.train.count + one.validation.count, 1)
    }

    func testSHA256MatchesTheFIPSVectors() {
        func hex(_ d: [UInt8]) -> String { d.map { String(format: "%02x", $0) }.joined() }
        XCTAssertEqual(hex(SHA256.hash([])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex(SHA256.hash(Array("abc".utf8))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // One million 'a', fed as Data in uneven pieces through both update paths.
        var h = SHA256()
        var fed = 0
        for (i, piece) in [1, 63, 64, 65, 1000, 7].cycled(until: 1_000_000).enumerated() {
            if i % 2 == 0 { h.update(Foundation.Data(repeating: 0x61, count: piece)) }
            else { h.update([UInt8](repeating: 0x61, count: piece)) }
            fed += piece
        }
        XCTAssertEqual(fed, 1_000_000)
        XCTAssertEqual(hex(h.finalize()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testFingerprintFollowsContentNotFileTimesAndHashesEachImageOnce() throws {
        let dir = TempFolder()
        let labels = dir.write("labels.csv", "image,x1,y1\nimg/a.jpg,1,2\nimg/b.jpg,3,4\n")
        let a = dir.write("img/a.jpg", bytes: [UInt8](repeating: 1, count: 1000))
        dir.write("img/b.jpg", bytes: [UInt8](repeating: 2, count: 500))
        // Whole seconds: a Date read from the file system does not always survive being written back.
        let modified = Date(timeIntervalSince1970: 1_700_000_000)
        try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: a)
        let set = try CSVLabels.read(path: labels).0
        var cache = ImageHashCache()
        let first = try DatasetFingerprint.compute(set, cache: &cache)
        XCTAssertEqual(first.count, 64)
        XCTAssertTrue(first.allSatisfy { "0123456789abcdef".contains($0) })
        XCTAssertEqual(cache.hashed.images, 2)
        XCTAssertEqual(cache.hashed.bytes, 1500)
        // Computed again with the cache: nothing is read, the same fingerprint.
        XCTAssertEqual(try DatasetFingerprint.compute(set, cache: &cache), first)
        XCTAssertEqual(cache.hashed.images, 2, "an unchanged image was read again")
        XCTAssertEqual(cache.reused, 2)
        // The cache survives being written and read back.
        let saved = dir.path + "/image-hashes.json"
        try cache.encoded().write(to: URL(fileURLWithPath: saved))
        var loaded = ImageHashCache.load(URL(fileURLWithPath: saved))
        XCTAssertEqual(try DatasetFingerprint.compute(set, cache: &loaded), first)
        XCTAssertEqual(loaded.hashed.images, 0)

        // A newer modification time alone changes nothing (the image is hashed again to the same value).
        try FileManager.default.setAttributes([.modificationDate: modified.addingTimeInterval(60)], ofItemAtPath: a)
        XCTAssertEqual(try DatasetFingerprint.compute(set, cache: &cache), first)
        XCTAssertEqual(cache.hashed.images, 3)
        // One image byte, same size, same modification time (as a careless tool might leave it): a
        // fresh hash sees it; the cache, keyed by size and time, is why `image-hashes.json` belongs
        // to the run folder and is rebuilt when deleted.
        var bytes = [UInt8](repeating: 1, count: 1000)
        bytes[500] = 9
        dir.write("img/a.jpg", bytes: bytes)
        var fresh = ImageHashCache()
        XCTAssertNotEqual(try DatasetFingerprint.compute(set, cache: &fresh), first)
        dir.write("img/a.jpg", bytes: [UInt8](repeating: 1, count: 1000))
        fresh = ImageHashCache()
        XCTAssertEqual(try DatasetFingerprint.compute(set, cache: &fresh), first, "restored")

        // One label byte (4 -> 5), with the same records read back.
        dir.write("labels.csv", "image,x1,y1\nimg/a.jpg,1,2\nimg/b.jpg,3,5\n")
        XCTAssertNotEqual(try DatasetFingerprint.compute(set, cache: &fresh), first)
        dir.write("labels.csv", "image,x1,y1\nimg/a.jpg,1,2\nimg/b.jpg,3,4\n")
        XCTAssertEqual(try DatasetFingerprint.compute(set, cache: &fresh), first)
        // The description file counts when given.
        let description = dir.write("labels.keypoints.json", "{\"flip_pairs\": []}")
        let withDescription = try DatasetFingerprint.compute(set, descriptionFile: description, cache: &fresh)
        XCTAssertNotEqual(withDescription, first)
        dir.write("labels.keypoints.json", "{\"flip_pairs\": [[0, 1]]}")
        XCTAssertNotEqual(try DatasetFingerprint.compute(set, descriptionFile: description, cache: &fresh), withDescription)
        try FileManager.default.removeItem(atPath: description)

        // A copy in another folder, with new modification times (cp without -p): the same fingerprint.
        let copy = TempFolder()
        try FileManager.default.removeItem(atPath: copy.path)
        try FileManager.default.copyItem(atPath: dir.path, toPath: copy.path)
        try FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: copy.path + "/img/a.jpg")
        let copied = try CSVLabels.read(path: copy.path + "/labels.csv").0
        var elsewhere = ImageHashCache()
        XCTAssertEqual(try DatasetFingerprint.compute(copied, cache: &elsewhere), first)
        // v1 (sizes and times) is still computed for runs recorded with it, and differs with the time.
        let v1 = try DatasetFingerprint.computeV1(copied)
        try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: copy.path + "/img/a.jpg")
        XCTAssertNotEqual(try DatasetFingerprint.computeV1(copied), v1)

        try FileManager.default.removeItem(atPath: a)
        assertDataError(try DatasetFingerprint.compute(set, cache: &fresh), ["img/a.jpg", "labelled at \(labels):2", "check the path"])
    }
}

private extension Array where Element == Int {
    /// The elements repeated in order until they sum to `total` (the last one cut short).
    func cycled(until total: Int) -> [Int] {
        var out: [Int] = [], sum = 0, i = 0
        while sum < total {
            let n = Swift.min(self[i % count], total - sum)
            out.append(n); sum += n; i += 1
        }
        return out
    }
}
