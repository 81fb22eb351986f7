// The operator's endpoint of a run (Hummingbird on SwiftNIO): `/metrics` in Prometheus' text format,
// `/` the status page, `/status.json` what the page draws, `/overlay.png` the latest validation
// picture. Binds to loopback unless told otherwise (tunnel to it: `ssh -L 9090:127.0.0.1:9090 host`).
import Foundation
import Hummingbird
import Logging
import Training

public enum StatusServer {
    /// Starts serving `status` on `host:port` (port 0: any free one) in the background, for the rest
    /// of the process. Returns the port it listens on; a port that cannot be bound is an error naming it.
    public static func start(status: RunStatus, host: String, port: Int) throws -> Int {
        let metrics = OperatorMetrics()
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            text(metrics.exposition(status.current), type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/status.json") { _, _ -> Response in
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            let body = (try? encoder.encode(status.current)) ?? Foundation.Data("{}".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/overlay.png") { _, _ -> Response in
            guard let png = status.overlayPNG else { return Response(status: .notFound) }
            return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: png)))
        }
        router.get("/") { _, _ -> Response in text(StatusPage.html, type: "text/html; charset=utf-8") }

        let bound = Bound()
        var logger = Logger(label: "keypoints.status")
        logger.logLevel = .error
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)),
                              onServerRunning: { channel in bound.set(.success(channel.localAddress?.port ?? port)) },
                              logger: logger)
        Task.detached {
            do { try await app.runService(gracefulShutdownSignals: []) } catch { bound.set(.failure(error)) }
        }
        switch bound.wait(seconds: 10) {
        case .success(let port)?: return port
        case .failure(let error)?:
            throw StatusServerError("cannot serve the status page on \(host):\(port): \(error); pick another --metrics-port")
        case nil:
            throw StatusServerError("the status server did not start on \(host):\(port) within 10 s")
        }
    }

    private static func text(_ body: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The server's first word: the port it listens on, or why it could not.
    private final class Bound: @unchecked Sendable {
        private let lock = NSCondition()
        private var result: Result<Int, any Error>?
        func set(_ r: Result<Int, any Error>) { lock.withLock { if result == nil { result = r; lock.broadcast() } } }
        func wait(seconds: Double) -> Result<Int, any Error>? {
            lock.withLock {
                let deadline = Date(timeIntervalSinceNow: seconds)
                while result == nil && lock.wait(until: deadline) {}
                return result
            }
        }
    }
}

public struct StatusServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
