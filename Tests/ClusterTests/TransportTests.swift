// Both transports carry messages both ways, report gone peers, and drop malformed input.
import Cluster
import Foundation
import XCTest

final class TransportTests: XCTestCase {
    private func exercise(_ coordinator: CoordinatorTransport, _ worker: WorkerTransport, peer: PeerID,
                          file: StaticString = #filePath, line: UInt = #line) throws {
        try worker.send(Message(kind: .hello, step: 0))
        guard let (from, hello) = try coordinator.receive(timeout: 5000) else {
            return XCTFail("coordinator got nothing", file: file, line: line)
        }
        XCTAssertEqual(from, peer, file: file, line: line)
        XCTAssertEqual(hello.kind, .hello, file: file, line: line)
        let weights: [Float] = (0..<100_000).map { Float($0) }
        let shared = weights.withUnsafeBytes { SharedBytes(copying: $0.baseAddress!, count: $0.count) }
        XCTAssertTrue(try coordinator.send(Message(kind: .weights, step: 5, bulk: [.shared(shared)]), to: peer), file: file, line: line)
        guard let got = try worker.receive(timeout: 5000) else { return XCTFail("worker got nothing", file: file, line: line) }
        XCTAssertEqual(got.kind, .weights, file: file, line: line)
        XCTAssertEqual(got.step, 5, file: file, line: line)
        guard case .bytes(let d) = got.bulk[0] else { return XCTFail("no bulk", file: file, line: line) }
        XCTAssertEqual(d, shared.data, file: file, line: line)
    }

    func testInMemoryNetwork() throws {
        let net = InMemoryNetwork()
        let c = net.coordinator()
        try exercise(c, net.worker("w1"), peer: "w1")
        net.disconnect("w1")
        XCTAssertFalse(try c.send(Message(kind: .bye), to: "w1"))
        var dropped: [String] = []
        c.onDropped = { peer, why in dropped.append("\(peer): \(why)") }
        net.inject(from: "stranger", frames: [Foundation.Data("hello?".utf8)])
        XCTAssertNil(try c.receive(timeout: 50))
        XCTAssertEqual(dropped.count, 1)
        XCTAssertTrue(dropped[0].hasPrefix("stranger: "), dropped[0])
    }

    func testZeroMQOverLoopbackTCP() throws {
        let context = ZMQContext()
        let c = try ZMQCoordinatorTransport(context: context, bind: "tcp://127.0.0.1:0")
        XCTAssertTrue(c.endpoint.hasPrefix("tcp://127.0.0.1:"), c.endpoint)
        let w = try ZMQWorkerTransport(context: context, connect: c.endpoint, id: "worker-a")
        try exercise(c, w, peer: "worker-a")
        XCTAssertFalse(try c.send(Message(kind: .bye), to: "nobody"), "an unknown peer is reported, not an error")
    }
}
