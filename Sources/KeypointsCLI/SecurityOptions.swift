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
    @Option(name: .customLong("curve-secret"), help: "The coordinator's key file (from keypoints keygen): turns on CURVE.")
    var curveSecret: String?
    @Option(name: .customLong("authorized-keys"), help: "Workers admitted: a .pub file, or a folder of them.")
    var authorizedKeys: String?
    @Flag(help: "Allow an unauthenticated, unencrypted link on a non-loopback address (trusted networks only).")
    var insecure = false

    /// Checks the combination for `bind`; returns the server keys and admitted worker keys, or nil
    /// for an open link (loopback, or --insecure with a warning).
    func resolve(bind: String) throws -> (CurveKeyPair, [String])? {
        guard let curveSecret else {
            if !Self.isLoopback(bind) {
                guard insecure else {
                    throw ValidationError("binding \(bind) beyond this machine without CURVE: make keys with `keypoints keygen`, "
                        + "then pass --curve-secret and --authorized-keys (or --insecure on a trusted network)")
                }
                print("warning: \(bind) is reachable from other machines and --insecure turns off authentication and "
                      + "encryption: anyone who reaches the port can join or read the training traffic")
            }
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

    /// Loopback or in-process endpoints are safe without CURVE; anything else is not.
    static func isLoopback(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("inproc://") || endpoint.hasPrefix("ipc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        let host = endpoint.dropFirst(6).split(separator: ":").dropLast().joined(separator: ":")
        return host.hasPrefix("127.") || host == "localhost" || host == "[::1]" || host == "::1"
    }
}

struct WorkerSecurityOptions: ParsableArguments {
    @Option(name: .customLong("curve-secret"), help: "This worker's key file (from keypoints keygen).")
    var curveSecret: String?
    @Option(name: .customLong("server-key"), help: "The coordinator's public key: its .pub file or the 40-character key.")
    var serverKey: String?

    func validate() throws {
        if (curveSecret == nil) != (serverKey == nil) {
            throw ValidationError("CURVE needs both --curve-secret (this worker's .key) and --server-key (the coordinator's .pub)")
        }
    }

    func resolve() throws -> (keys: CurveKeyPair, serverKey: String)? {
        guard let curveSecret, let serverKey else { return nil }
        guard let secret = try CurveKeyPair.read(curveSecret).secretKey else {
            throw ValidationError("\(curveSecret) has no secret-key line: pass the worker's .key file")
        }
        let server = CurveKeyPair.isKey(serverKey) ? serverKey : try CurveKeyPair.read(serverKey).publicKey
        guard let server else { throw ValidationError("\(serverKey) has no public-key line") }
        return (try CurveKeyPair(secretKey: secret), server)
    }
}
