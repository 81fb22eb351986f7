// SIGINT/SIGTERM as a request: the training loop checkpoints and stops at the next step boundary.
import Foundation

final class StopRequest: @unchecked Sendable {
    static let shared = StopRequest()
    private let lock = NSLock()
    private var requested = false
    private var sources: [DispatchSourceSignal] = []

    var isRequested: Bool { lock.lock(); defer { lock.unlock() }; return requested }

    /// Routes SIGINT and SIGTERM here instead of killing the process.
    func install(onSignal: @escaping @Sendable (Int32) -> Void = { _ in }) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                lock.lock(); requested = true; lock.unlock()
                onSignal(sig)
            }
            source.resume()
            sources.append(source)
        }
    }
}
