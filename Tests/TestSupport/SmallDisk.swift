// A small tmpfs mounted for one test, to make writes fail with ENOSPC for real (root only; in CI
// its absence is a failure, see Requirement).
import Foundation

public final class SmallDisk {
    /// The mounted folder.
    public let url: URL

    /// Mounts a tmpfs of `bytes` at a new temporary folder.
    public init(bytes: Int) throws {
        guard getuid() == 0 else { throw Requirement.unavailable("mounting a small tmpfs needs root") }
        url = FileManager.default.temporaryDirectory.appendingPathComponent("small-disk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let r = try runChild(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", url.path])
        guard r.status == 0 else {
            try? FileManager.default.removeItem(at: url)
            throw Requirement.unavailable("cannot mount a tmpfs here: \(r.stderr)")
        }
    }

    /// Bytes still free on the disk.
    public var free: Int {
        var s = statvfs()
        return statvfs(url.path, &s) == 0 ? Int(s.f_bavail) * Int(s.f_frsize) : 0
    }

    /// Fills the disk until `leave` bytes or fewer are free.
    public func fill(leaving leave: Int) throws {
        let filler = url.appendingPathComponent("filler")
        FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        defer { try? handle.close() }
        while free > leave {
            let chunk = min(free - leave, 1 << 20)
            do { try handle.write(contentsOf: Foundation.Data(count: max(chunk, 4096))) } catch { break }
        }
    }

    deinit {
        _ = try? runChild(URL(fileURLWithPath: "/bin/umount"), [url.path])
        try? FileManager.default.removeItem(at: url)
    }
}
