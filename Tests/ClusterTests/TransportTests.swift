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
        // Two large frames: each is received without a copy, and the second still belongs to the message.
        XCTAssertEqual(try coordinator.send(Message(kind: .weights, step: 5, bulk: [.shared(shared), .shared(shared)]), to: peer), .sent,
                       file: file, line: line)
        guard let got = try worker.receive(timeout: 5000) else { return XCTFail("worker got nothing", file: file, line: line) }
        XCTAssertEqual(got.kind, .weights, file: file, line: line)
        XCTAssertEqual(got.step, 5, file: file, line: line)
        XCTAssertEqual(got.bulk.count, 2, file: file, line: line)
        for frame in got.bulk {
            guard case .bytes(let d) = frame else { return XCTFail("no bulk", file: file, line: line) }
            XCTAssertEqual(d, shared.data, file: file, line: line)
        }
    }

    func testInMemoryNetwork() throws {
        let net = InMemoryNetwork()
        let c = net.coordinator()
        try exercise(c, net.worker("w1"), peer: "w1")
        net.disconnect("w1")
        XCTAssertEqual(try c.send(Message(kind: .bye), to: "w1"), .unreachable)
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
        XCTAssertEqual(try c.send(Message(kind: .bye), to: "nobody"), .unreachable, "an unknown peer is reported, not an error")
    }

    /// A rogue peer's message announcing no bulk but carrying 40 frames of 300 kB is refused at its
    /// first extra frame and its bulk discarded without being copied; a frame larger than any the
    /// coordinator accepts drops that connection inside libzmq; an honest peer is served throughout.
    func testZeroMQCoordinatorRefusesFramesItsLimitsDoNotAllow() throws {
        let context = ZMQContext()
        let limits = WireLimits(headerBytes: 4096, kinds: [.hello: .none, .heartbeat: .none, .gradients: .oneOf([[400_000]])])
        let c = try ZMQCoordinatorTransport(context: context, bind: "tcp://127.0.0.1:0", limits: limits)
        var dropped: [String] = []
        c.onDropped = { peer, why in dropped.append("\(peer): \(why)") }
        let rogue = try ZMQSocket(context, kind: .dealer)
        try rogue.setRoutingID("rogue")
        try rogue.connect(c.endpoint)
        let chunk = SharedBytes(Foundation.Data(repeating: 9, count: 300_000))
        try rogue.send(WireCodec.encode(Message(kind: .gradients)) + Array(repeating: Frame.shared(chunk), count: 40))
        let honest = try ZMQWorkerTransport(context: context, connect: c.endpoint, id: "honest")
        // The refusal of the rogue's message is reported, and nothing of it returned.
        let until = Date().addingTimeInterval(10)
        while dropped.isEmpty && Date() < until { XCTAssertNil(try c.receive(timeout: 100)) }
        try honest.send(Message(kind: .heartbeat, step: 1))
        guard let (peer, m) = try c.receive(timeout: 5000) else { return XCTFail("the honest heartbeat never came: \(dropped)") }
        XCTAssertEqual(peer, "honest")
        XCTAssertEqual(m.kind, .heartbeat)
        XCTAssertEqual(dropped, ["rogue: gradients may not carry bulk frames of [] bytes here (coordinator and worker built differently?)"])
        // Muted peers are discarded unread and not reported.
        c.muted = ["rogue"]
        try rogue.send(WireCodec.encode(Message(kind: .hello)))
        try honest.send(Message(kind: .hello))
        guard let (second, _) = try c.receive(timeout: 5000) else { return XCTFail("the honest hello never came") }
        XCTAssertEqual(second, "honest")
        XCTAssertEqual(dropped.count, 1, "\(dropped)")
        // Over the largest frame (400 kB here): libzmq drops the connection, nothing reaches us.
        let big = try ZMQSocket(context, kind: .dealer)
        try big.setRoutingID("big")
        try big.connect(c.endpoint)
        try big.send(WireCodec.encode(Message(kind: .gradients, bulk: [.bytes(Foundation.Data(repeating: 1, count: 1 << 20))])))
        try honest.send(Message(kind: .heartbeat, step: 2))
        guard let (third, beat) = try c.receive(timeout: 5000) else { return XCTFail("the honest heartbeat never came") }
        XCTAssertEqual(third, "honest")
        XCTAssertEqual(beat.step, 2)
        XCTAssertNil(try c.receive(timeout: 500), "an oversized frame reached the coordinator")
        XCTAssertEqual(dropped.count, 1, "\(dropped)")
    }

    /// A peer that never reads: the coordinator's sends to it never block, and report
    /// `.backlogged` once its queue and the socket buffers are full.
    func testZeroMQSendsToAPeerThatNeverReadsDoNotBlock() throws {
        let context = ZMQContext()
        let c = try ZMQCoordinatorTransport(context: context, bind: "tcp://127.0.0.1:0", sendQueue: 2)
        let stuck = try ZMQSocket(context, kind: .dealer)
        try stuck.setRoutingID("stuck")
        try stuck.setHighWaterMarks(send: 1, receive: 1)
        try stuck.connect(c.endpoint)
        try stuck.send(WireCodec.encode(Message(kind: .hello)))
        XCTAssertNotNil(try c.receive(timeout: 5000))
        let megabyte = SharedBytes(Foundation.Data(repeating: 1, count: 1 << 20))
        final class Sender: @unchecked Sendable {
            let transport: ZMQCoordinatorTransport, payload: SharedBytes
            var sent = 0, backlogged = false
            let done = DispatchSemaphore(value: 0)
            init(_ t: ZMQCoordinatorTransport, _ p: SharedBytes) { transport = t; payload = p }
            func run() {
                for _ in 0..<2000 {
                    guard let d = try? transport.send(Message(kind: .weights, bulk: [.shared(payload)]), to: "stuck"), d == .sent else {
                        backlogged = true
                        break
                    }
                    sent += 1
                }
                done.signal()
            }
        }
        let sender = Sender(c, megabyte)
        Thread { sender.run() }.start()
        XCTAssertEqual(sender.done.wait(timeout: .now() + 60), .success, "a send to a peer that never reads blocked")
        XCTAssertTrue(sender.backlogged, "2000 MB queued for a peer that never reads")
        XCTAssertLessThan(sender.sent, 200, "queued far more than the send queue and socket buffers hold")
    }
}
