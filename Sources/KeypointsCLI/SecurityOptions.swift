// CURVE flags: `keypoints keygen`, the coordinator's key and authorized workers, a worker's keys.
import ArgumentParser
import Cluster
import Foundation

/// `keypoints keygen`: writes NAME.key (public and secret, mode 0600) and NAME.pub (public only).
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a CURVE key pair for a coordinator or a worker.",
        discussion: """
        Give the coordinator its .key with --curve-secret and the workers' .pub files with --authorized-keys;
        give each worker its own .key with --curve-secret and the coordinator's .pub with --server-key.
        """)

    @Option(help: "Folder to write the key files into.") var out: String = "."
    @Option(help: "Base name of the files (NAME.key, NAME.pub).") var name: String

    func run() throws {
        let keys = try CurveKeyPair.generate()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let secret = (out as NSString).appendingPathComponent("\(name).key")
        let pub = (out as NSString).appendingPathComponent("\(name).pub")
        FileManager.default.createFile(atPath: secret, contents: Foundation.Data(
            "# keypoints CURVE key pair: keep this file secret\npublic-key = \(keys.publicKey)\nsecret-key = \(keys.secretKey)\n".utf8),
            attributes: [.posixPermissions: 0o600])
        try "public-key = \(keys.publicKey)\n".write(toFile: pub, atomically: true, encoding: .utf8)
        print("wrote \(secret) (secret, mode 0600) and \(pub) (public)")
    }
}

struct CoordinatorSecurityOptions: ParsableArguments {
    @Option(name: .customLong("curve-secret"), help: "The coordinator's key file (from keypoints keygen).")
    var curveSecret: String?
    @Option(name: .customLong("authorized-keys"), help: "Workers admitted: a .pub file, or a folder of them.")
    var authorizedKeys: String?
    @Flag(help: "Run without authentication or encryption: anyone who reaches the port, local users included, can join, read the traffic and flood the coordinator (trusted, single-user machines only).")
    var insecure = false

    func validate() throws {
        if insecure && curveSecret != nil { throw ValidationError("--insecure and --curve-secret contradict each other: give one") }
    }

    /// Checks the combination for `bind`; returns the server keys and admitted worker keys, or nil
    /// for an open link (only with --insecure, after a warning). Every bind is authenticated by
    /// default, loopback included: on a shared machine any local user can reach 127.0.0.1.
    /// An `ipc://` socket in a folder only this user can enter needs no keys: no other user can
    /// connect (see PrivateSocketFolder.swift); one in any other folder does.
    func resolve(bind: String) throws -> (CurveKeyPair, [String])? {
        guard let curveSecret else {
            if bind.hasPrefix("ipc://") && !insecure {
                if let problem = PrivateSocketFolder.problem(endpoint: bind) {
                    throw ValidationError("\(bind) \(problem). A Unix socket needs no CURVE keys only in a folder that this "
                        + "user alone can enter (mkdir -m 700 FOLDER); otherwise pass --curve-secret and --authorized-keys, or --insecure")
                }
                print("note: \(bind) is a Unix socket in a folder only this user can enter: this user's workers on this "
                      + "machine connect without keys, and nobody else can connect")
                return nil
            }
            guard insecure else {
                throw ValidationError("\(bind) needs CURVE keys: make them with `keypoints keygen --name coordinator` and one "
                    + "`keypoints keygen --name NAME` per worker, then pass --curve-secret coordinator.key and --authorized-keys "
                    + "(the workers' .pub files); for workers on this machine, bind ipc://FOLDER/NAME in a folder only "
                    + "you can enter (mkdir -m 700 FOLDER; `train --workers N` does this itself); or give --insecure on a "
                    + "trusted, single-user machine")
            }
            print("warning: --insecure turns off authentication and encryption on \(bind): "
                  + (Self.isLoopback(bind) ? "any local user" : "anyone who reaches the port")
                  + " can join, read the training traffic and flood the coordinator")
            return nil
        }
        guard let secret = try CurveKeyPair.read(curveSecret).secretKey else {
            throw ValidationError("\(curveSecret) has no secret-key line: pass the .key file, not the .pub")
        }
        guard let authorizedKeys else { throw ValidationError("--curve-secret needs --authorized-keys (the workers' .pub files)") }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: authorizedKeys, isDirectory: &isDir) else {
            throw ValidationError("\(authorizedKeys) does not exist")
        }
        let files = isDir.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: authorizedKeys).filter { $0.hasSuffix(".pub") }.sorted()
                .map { (authorizedKeys as NSString).appendingPathComponent($0) }
            : [authorizedKeys]
        let keys = try files.compactMap { try CurveKeyPair.read($0).publicKey }
        guard !keys.isEmpty else { throw ValidationError("no public keys found in \(authorizedKeys)") }
        return (try CurveKeyPair(secretKey: secret), keys)
    }

    /// Loopback or in-process endpoints, reachable from this machine only.
    static func isLoopback(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("inproc://") || endpoint.hasPrefix("ipc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        let host = endpoint.dropFirst(6).split(separator: ":").dropLast().joined(separator: ":")
        return host.hasPrefix("127.") || host == "localhost" || host == "[::1]" || host == "::1"
    }
}

struct WorkerSecurityOptions: ParsableArguments {
    @Option(name: .customLong("curve-secret"), help: "This worker's key file (from keypoints keygen); - reads it from standard input (how `train --workers` hands over its keys).")
    var curveSecret: String?
    @Option(name: .customLong("server-key"), help: "The coordinator's public key: its .pub file or the 40-character key (one that starts with - needs --server-key=KEY).")
    var serverKey: String?

    @Flag(help: "Join a coordinator started with --insecure: no authentication, no encryption.")
    var insecure = false

    /// Checks the flags for a worker connecting to `connect`: an `ipc://` socket (a coordinator's
    /// private folder guards it) needs no keys; any other endpoint needs keys or --insecure.
    func validate(connect: String) throws {
        if (curveSecret == nil) != (serverKey == nil) {
            throw ValidationError("CURVE needs both --curve-secret (this worker's .key) and --server-key (the coordinator's .pub)")
        }
        if curveSecret == nil && !insecure && !connect.hasPrefix("ipc://") {
            throw ValidationError("coordinators accept CURVE-authenticated workers only: pass --curve-secret (this worker's .key "
                + "from `keypoints keygen`) and --server-key (the coordinator's .pub), or --insecure to join a coordinator "
                + "started with --insecure (or connect to a coordinator's ipc:// socket on this machine)")
        }
        if curveSecret != nil && insecure { throw ValidationError("--insecure and --curve-secret contradict each other: give one") }
    }

    /// Key-file lines from standard input, up to the `secret-key` line (not to end of file: the
    /// pipe a parent hands over may stay open) or 16 lines.
    static func keyLinesFromStandardInput() -> String {
        var lines: [String] = []
        while lines.count < 16, let line = readLine() {
            lines.append(line)
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("secret-key") { break }
        }
        return lines.joined(separator: "\n")
    }

    func resolve() throws -> (keys: CurveKeyPair, serverKey: String)? {
        guard let curveSecret, let serverKey else { return nil }
        let read = curveSecret == "-" ? try CurveKeyPair.parse(Self.keyLinesFromStandardInput(), source: "standard input")
                                      : try CurveKeyPair.read(curveSecret)
        guard let secret = read.secretKey else {
            throw ValidationError("\(curveSecret) has no secret-key line: pass the worker's .key file")
        }
        // A file first: a 40-character path such as /tmp/tmp.nQ5nzrGRo0/keys/coordinator.pub is also
        // valid Z85, and was once taken for the key itself.
        let server = FileManager.default.fileExists(atPath: serverKey) || !CurveKeyPair.isKey(serverKey)
            ? try CurveKeyPair.read(serverKey).publicKey : serverKey
        guard let server else { throw ValidationError("\(serverKey) has no public-key line") }
        return (try CurveKeyPair(secretKey: secret), server)
    }
}
