// CURVE security for the coordinator-worker link: key pairs, server and client socket settings,
// and the ZAP handler through which the coordinator admits only listed worker keys.
internal import CZMQ
import Foundation

/// A CURVE key pair in Z85 text (40 characters each), as `keypoints keygen` writes it.
public struct CurveKeyPair: Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String

    /// A fresh random key pair.
    public static func generate() throws -> CurveKeyPair {
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else {
            throw ClusterError("cannot make a CURVE key pair: this libzmq was built without CURVE")
        }
        return CurveKeyPair(publicKey: Self.text(pub), secretKey: Self.text(sec))
    }

    /// The pair for a secret key (the public half is derived).
    public init(secretKey: String) throws {
        guard Self.isKey(secretKey) else { throw ClusterError("not a CURVE secret key (40 Z85 characters expected)") }
        var pub = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&pub, secretKey) == 0 else { throw ClusterError("cannot derive the public key") }
        publicKey = Self.text(pub)
        self.secretKey = secretKey
    }

    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// True for a 40-character Z85 key.
    public static func isKey(_ s: String) -> Bool {
        s.utf8.count == 40 && decode(s) != nil
    }

    static func decode(_ s: String) -> [UInt8]? {
        guard s.utf8.count == 40 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&out, s) == nil ? nil : out
    }

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [CChar](repeating: 0, count: 41)
        _ = zmq_z85_encode(&out, bytes, bytes.count)
        return text(out)
    }

    private static func text(_ c: [CChar]) -> String {
        String(decoding: c.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads a key file written by `keypoints keygen`: `public-key = ...` and `secret-key = ...` lines
    /// (a `.pub` file has only the public one). Errors name the file.
    public static func read(_ path: String) throws -> (publicKey: String?, secretKey: String?) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ClusterError("\(path): cannot read the key file")
        }
        return try parse(text, source: path)
    }

    /// Parses the text of a key file; errors name `source` (a path, or "standard input").
    public static func parse(_ text: String, source path: String) throws -> (publicKey: String?, secretKey: String?) {
        var pub: String?, sec: String?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "public-key" { pub = parts[1] }
            if parts[0] == "secret-key" { sec = parts[1] }
        }
        for k in [pub, sec].compactMap({ $0 }) where !isKey(k) {
            throw ClusterError("\(path): \(k.prefix(8))... is not a CURVE key (40 Z85 characters)")
        }
        guard pub != nil || sec != nil else { throw ClusterError("\(path): no public-key or secret-key line") }
        return (pub, sec)
    }
}

extension ZMQSocket {
    /// Makes this socket a CURVE server with `keys` (the coordinator).
    public func makeCurveServer(_ keys: CurveKeyPair) throws {
        try setOption(ZMQ_CURVE_SERVER, 1)
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8))
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array("keypoints".utf8))
    }

    /// Makes this socket a CURVE client with its own `keys` that trusts only `serverKey` (a worker).
    public func makeCurveClient(_ keys: CurveKeyPair, serverKey: String) throws {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8))
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(keys.publicKey.utf8))
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8))
    }
}

/// The ZeroMQ authentication handler (ZAP, RFC 27) of one context: admits CURVE clients whose
/// public key is listed, refuses and logs the rest. Runs on its own thread until `stop()`.
public final class ZAPHandler: @unchecked Sendable {
    private let socket: ZMQSocket
    private let allowed: Set<[UInt8]>
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    /// - Parameter authorizedKeys: worker public keys (Z85).
    public init(context: ZMQContext, authorizedKeys: [String], log: @escaping @Sendable (String) -> Void) throws {
        socket = try ZMQSocket(context, rawType: ZMQ_REP)
        try socket.bind("inproc://zeromq.zap.01")
        allowed = Set(authorizedKeys.compactMap(CurveKeyPair.decode))
        self.log = log
        let thread = Thread { [self] in serve() }
        thread.name = "keypoints.zap"
        thread.start()
    }

    public func stop() {
        lock.lock(); running = false; lock.unlock()
        done.wait()
    }

    private var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }

    /// Refusals, logged one by one for the first 10, then summarised every 10 s.
    private var refusals = LogThrottle(first: 10)

    private func refused(_ address: String, _ reason: String) {
        switch refusals.record() {
        case .event?: log("refused a connection from \(address): \(reason); add its .pub key to --authorized-keys to admit it")
        case .summary(let count, let seconds)?:
            log("refused \(count) more connection(s) in the last \(seconds) s (\(refusals.total) in all); latest from \(address): \(reason)")
        case nil: break
        }
    }

    private func serve() {
        defer { done.signal() }
        while isRunning {
            guard let frames = try? socket.receive(timeout: 200) else { continue }
            // version, request id, domain, address, routing id, mechanism, credentials...
            guard frames.count >= 6 else { continue }
            let version = frames[0], requestID = frames[1]
            let address = String(decoding: frames[3], as: UTF8.self)
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            var ok = false, reason = "only CURVE is accepted"
            if mechanism == "CURVE", frames.count >= 7 {
                let key = [UInt8](frames[6])
                ok = allowed.contains(key)
                reason = ok ? "OK" : "public key \(CurveKeyPair.encode(key)) is not authorized"
            }
            if !ok { refused(address, reason) }
            _ = try? socket.send([.bytes(version), .bytes(requestID), .bytes(Foundation.Data((ok ? "200" : "400").utf8)),
                                  .bytes(Foundation.Data(reason.utf8)), .bytes(Foundation.Data()), .bytes(Foundation.Data())])
        }
    }
}
