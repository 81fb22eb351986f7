// The folder of a coordinator's Unix socket (`ipc://`) when its workers run on the same machine:
// the folder's permissions decide who may connect, as they do for ssh-agent's socket. A folder
// only this user can enter (mode 0700, owned by this user) lets in this user's processes only,
// which could read a CURVE key from the coordinator's memory anyway; the traffic then needs no
// encryption, which on loopback cost 0.1 s of a 0.9 s step (17 MB each way per worker).
import Cluster
import Foundation

struct PrivateSocketFolder {
    /// The folder, absolute.
    let path: String

    /// The socket's endpoint in the folder.
    var endpoint: String { "ipc://\(path)/coordinator" }

    /// Longest socket path Linux takes (`sun_path` holds 108 bytes with the terminating NUL).
    static let longestSocketPath = 107

    /// Makes a fresh folder of mode 0700 (mkdtemp) in `$XDG_RUNTIME_DIR`, else `$TMPDIR`, else
    /// /tmp; a base whose socket path would be too long for Linux is passed over for /tmp.
    static func make() throws -> PrivateSocketFolder {
        let environment = ProcessInfo.processInfo.environment
        let bases = [environment["XDG_RUNTIME_DIR"], environment["TMPDIR"], "/tmp"].compactMap { $0 }.filter { !$0.isEmpty }
        for base in bases {
            let template = (base as NSString).appendingPathComponent("keypoints-XXXXXX")
            guard template.utf8.count + "/coordinator".utf8.count <= longestSocketPath else { continue }
            var bytes = Array(template.utf8CString)
            guard let made = mkdtemp(&bytes) else { continue }
            let folder = PrivateSocketFolder(path: String(cString: made))
            if let problem = problem(folder: folder.path) {
                folder.remove()
                throw ClusterError("the socket folder \(folder.path) \(problem)")
            }
            return folder
        }
        throw ClusterError("cannot make a private folder for the local workers' socket in \(bases.joined(separator: ", ")) "
                                + "(\(String(cString: strerror(errno)))): set TMPDIR to a writable folder with a short path")
    }

    /// Why `endpoint` (ipc://PATH) is not in a folder only this user can enter, or nil when it is:
    /// the folder exists, is not a symbolic link, belongs to this user and grants nothing to
    /// group or others.
    static func problem(endpoint: String) -> String? {
        let socket = String(endpoint.dropFirst("ipc://".count))
        guard socket.hasPrefix("/") else { return "is not an absolute path" }
        guard socket.utf8.count <= longestSocketPath else {
            return "is \(socket.utf8.count) bytes long, more than the \(longestSocketPath) Linux allows for a socket"
        }
        return problem(folder: (socket as NSString).deletingLastPathComponent).map { "is in a folder that \($0)" }
    }

    /// Why `folder` is not private to this user, or nil.
    private static func problem(folder: String) -> String? {
        var info = stat()
        guard lstat(folder, &info) == 0 else { return "cannot be read (\(String(cString: strerror(errno))))" }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "is not a folder (a symbolic link or a file)" }
        guard info.st_uid == geteuid() else { return "belongs to user \(info.st_uid), not to this user (\(geteuid()))" }
        guard info.st_mode & 0o077 == 0 else {
            return String(format: "has mode %o: other users may enter it (chmod 700 it)", info.st_mode & 0o777)
        }
        return nil
    }

    /// Removes the folder and the socket in it.
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
