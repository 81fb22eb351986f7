// A worker running on a thread of its own over the in-memory transport (one oneDNN thread, like
// the local run), for the coordinator tests.
import Cluster
import Compute
import Foundation

final class WorkerThread: @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    var error: Error?
    let worker: Worker

    /// Starts worker `name`; `heartbeat` is its heartbeat interval in seconds.
    init(_ network: InMemoryNetwork, name: String, heartbeat: Double = 2) {
        worker = Worker(transport: network.worker(name), hello: HelloFields(name: name, host: "test", threads: 1, pid: 0),
                        log: { _ in })
        worker.heartbeatInterval = heartbeat
        let thread = Thread { [self] in
            Engine.setThreads(1)
            do { try worker.run() } catch { self.error = error }
            done.signal()
        }
        thread.start()
    }
}
