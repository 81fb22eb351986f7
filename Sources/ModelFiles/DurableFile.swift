// Files and folders that survive a crash or a full disk: written under a temporary name, fsynced,
// then renamed into place (a folder is swapped in with one atomic exchange), so a reader sees the
// old version or the new one, never a mix or a torn file. Errors name the path; nothing traps.
// Temporaries left by a killed process are named `.tmp-PID-...` and removed by the next start.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A write that did not happen: which path, what the system said, and that the previous version
/// is still in place.
public struct DurableWriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public let errno: Int32
    public var description: String { "cannot write \(path): \(reason); the previous version is untouched" }
    /// True when the disk (or quota) is full.
    public var isFull: Bool { errno == ENOSPC || errno == EDQUOT }
}

public enum DurableFile {
    /// The prefix of every temporary this type makes.
    public static let temporaryPrefix = ".tmp-"

    /// A temporary name for `name` in `folder`, unique to this process and call.
    static func temporary(for name: String, in folder: URL) -> URL {
        folder.appendingPathComponent("\(temporaryPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)")
    }

    private static func failure(_ path: String, _ what: String) -> DurableWriteError {
        let code = Glibc.errno
        return DurableWriteError(path: path, reason: "\(what): \(String(cString: strerror(code)))", errno: code)
    }

    /// Writes `data` to `url` atomically and durably: a temporary in the same folder, every byte
    /// written (EINTR retried), fsync, rename, fsync of the folder.
    public static func write(_ data: Foundation.Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        let temporary = temporary(for: url.lastPathComponent, in: folder)
        do {
            try writeAndSync(data, to: temporary)
            try rename(temporary, to: url)
        } catch {
            unlink(temporary.path)
            throw error
        }
        syncFolder(folder)
    }

    /// Writes a folder as a unit: `fill` writes the files into an empty temporary folder (with
    /// `writeAndSync`), which then replaces `folder` in one atomic exchange (`renameat2`
    /// RENAME_EXCHANGE), so `folder` holds the old files or the new ones, never a mix.
    public static func replaceFolder(_ folder: URL, fill: (URL) throws -> Void) throws {
        let parent = folder.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw DurableWriteError(path: parent.path, reason: "cannot create the folder: \(error)", errno: EIO)
        }
        let temporary = temporary(for: folder.lastPathComponent, in: parent)
        guard mkdir(temporary.path, 0o755) == 0 else { throw failure(temporary.path, "cannot create a temporary folder") }
        do {
            try fill(temporary)
            syncFolder(temporary)
            if FileManager.default.fileExists(atPath: folder.path) {
                try exchange(temporary, folder)
                try? FileManager.default.removeItem(at: temporary)  // now the old files
            } else {
                try rename(temporary, to: folder)
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        syncFolder(parent)
    }

    /// Writes `data` to a new file at `url` (EINTR retried) and fsyncs it; on failure the file is removed.
    public static func writeAndSync(_ data: Foundation.Data, to url: URL) throws {
        var fd: Int32
        repeat { fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) } while fd < 0 && Glibc.errno == EINTR
        guard fd >= 0 else { throw failure(url.path, "cannot create the file") }
        defer { close(fd) }
        if let (written, code) = writeAll(data, to: fd) {
            unlink(url.path)
            throw DurableWriteError(path: url.path, reason: "write failed after \(written) of \(data.count) bytes: "
                                    + String(cString: strerror(code)), errno: code)
        }
        var synced: Int32
        repeat { synced = fsync(fd) } while synced != 0 && Glibc.errno == EINTR
        guard synced == 0 else {
            let e = failure(url.path, "fsync failed")
            unlink(url.path)
            throw e
        }
    }

    /// Writes every byte of `data` to `fd`, retrying after EINTR and short writes; nil when done,
    /// else the bytes written and the errno (ENOSPC for a write of 0 bytes).
    static func writeAll(_ data: Foundation.Data, to fd: Int32) -> (written: Int, errno: Int32)? {
        data.withUnsafeBytes { raw -> (Int, Int32)? in
            var written = 0
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 && Glibc.errno == EINTR { continue }
                guard n > 0 else { return (written, n == 0 ? ENOSPC : Glibc.errno) }
                written += n
            }
            return nil
        }
    }

    /// Removes the temporaries in `folder` left by processes that are no longer running (a crash
    /// or SIGKILL mid-write); returns their names. Temporaries of live processes are left alone.
    @discardableResult
    public static func removeStaleTemporaries(in folder: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var removed: [String] = []
        for name in names where name.hasPrefix(temporaryPrefix) {
            let pid = name.dropFirst(temporaryPrefix.count).prefix { $0.isNumber }
            if let p = Int32(pid), p == getpid() || kill(p, 0) == 0 || Glibc.errno == EPERM { continue }
            if (try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))) != nil { removed.append(name) }
        }
        return removed
    }

    private static func rename(_ from: URL, to: URL) throws {
        guard Glibc.rename(from.path, to.path) == 0 else { throw failure(to.path, "cannot rename \(from.lastPathComponent) into place") }
    }

    /// `renameat2(2)` with RENAME_EXCHANGE (Linux 3.15+): Glibc has it, Swift's Glibc module does not
    /// declare it, so it is looked up once by name.
    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    nonisolated(unsafe) private static let renameat2: RenameAt2? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2")
        .map { unsafeBitCast($0, to: RenameAt2.self) }
    private static let renameExchange: UInt32 = 1 << 1

    private static func exchange(_ a: URL, _ b: URL) throws {
        guard let renameat2 else {
            throw DurableWriteError(path: b.path, reason: "this C library has no renameat2 (glibc 2.28 or later is needed)", errno: ENOSYS)
        }
        guard renameat2(AT_FDCWD, a.path, AT_FDCWD, b.path, renameExchange) == 0 else {
            throw failure(b.path, "cannot swap the new folder into place")
        }
    }

    private static func syncFolder(_ url: URL) {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }
}

/// A file that only grows by whole records (the metrics log): each `append` writes all its bytes
/// or, on failure, cuts the file back to where it was, so a full disk never leaves a torn line.
public final class AppendingFile {
    public let url: URL
    private let fd: Int32

    /// Opens `url` for appending, creating it if needed.
    public init(_ url: URL) throws {
        self.url = url
        var fd: Int32
        repeat { fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644) } while fd < 0 && Glibc.errno == EINTR
        guard fd >= 0 else {
            let code = Glibc.errno
            throw DurableWriteError(path: url.path, reason: "cannot open for appending: \(String(cString: strerror(code)))", errno: code)
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Appends `data` whole (EINTR retried); on failure the file is cut back and the error names it.
    public func append(_ data: Foundation.Data) throws {
        let start = lseek(fd, 0, SEEK_END)
        if let (written, code) = DurableFile.writeAll(data, to: fd) {
            if start >= 0 { _ = ftruncate(fd, start) }
            throw DurableWriteError(path: url.path, reason: "append failed after \(written) of \(data.count) bytes: "
                                    + String(cString: strerror(code)), errno: code)
        }
    }
}
