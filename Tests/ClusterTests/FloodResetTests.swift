// A peer that floods the coordinator's socket past its receive high-water mark and then resets the
// connection must not abort the coordinator. libzmq 4.3.4 asserts (`!_io_error`,
// stream_engine_base.cpp:331) when its ping timer fires on such a connection; the coordinator's
// ROUTER therefore sends no pings (see ZMQCoordinatorTransport). The peer here is a raw TCP socket
// speaking ZMTP 3.0 with the NULL mechanism, so that it can end with a reset (SO_LINGER 0).
import Cluster
import Foundation
import Glibc
import XCTest

final class FloodResetTests: XCTestCase {
    /// Opens a TCP connection to `port` on 127.0.0.1 and completes a ZMTP 3.0 NULL handshake as a
    /// DEALER named `name`; returns the file descriptor.
    private func zmtpPeer(port: UInt16, name: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClusterError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ClusterError("connect to port \(port): errno \(errno)") }
        // Greeting: signature, version 3.0, mechanism "NULL" padded to 20 bytes, as-server 0, filler.
        var greeting: [UInt8] = [0xFF] + [UInt8](repeating: 0, count: 8) + [0x7F, 3, 0]
        greeting += Array("NULL".utf8) + [UInt8](repeating: 0, count: 16) + [0] + [UInt8](repeating: 0, count: 31)
        // READY command with the Socket-Type and Identity properties.
        func property(_ key: String, _ value: String) -> [UInt8] {
            let v = Array(value.utf8)
            return [UInt8(key.utf8.count)] + Array(key.utf8) + withUnsafeBytes(of: UInt32(v.count).bigEndian, Array.init) + v
        }
        let body = [5] + Array("READY".utf8) + property("Socket-Type", "DEALER") + property("Identity", name)
        try write(fd, greeting + [0x04, UInt8(body.count)] + body)
        return fd
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw ClusterError("write: errno \(errno)") }
            sent += n
        }
    }

    func testAPeerThatFloodsAndResetsDoesNotAbortTheCoordinator() throws {
        let context = ZMQContext()
        let coordinator = try ZMQCoordinatorTransport(context: context, bind: "tcp://127.0.0.1:0",
                                                      heartbeat: (interval: 100, timeout: 1000), receiveQueue: 8)
        let port = try XCTUnwrap(UInt16(coordinator.endpoint.split(separator: ":").last ?? ""), coordinator.endpoint)
        let fd = try zmtpPeer(port: port, name: "flood")
        // 2000 one-frame messages of 16 bytes: far past the 8 the coordinator's queue holds for a
        // peer, so libzmq stops reading this connection.
        let message: [UInt8] = [0x00, 16] + [UInt8](repeating: 0xAB, count: 16)
        try write(fd, Array([[UInt8]](repeating: message, count: 2000).joined()))
        usleep(300_000)
        var reset = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
        close(fd)
        // Several ping intervals pass with the connection failed and its input stopped: the moment
        // libzmq 4.3.4 aborted the process when the ROUTER pinged.
        usleep(800_000)
        var dropped = 0
        coordinator.onDropped = { _, _ in dropped += 1 }
        while try coordinator.receive(timeout: 200) != nil {}
        XCTAssertGreaterThan(dropped, 0, "the flood's malformed messages were read and dropped")
        // The coordinator still serves an honest worker.
        let worker = try ZMQWorkerTransport(context: context, connect: coordinator.endpoint, id: "honest")
        try worker.send(Message(kind: .hello, step: 0))
        let got = try coordinator.receive(timeout: 5000)
        XCTAssertEqual(got?.0, "honest")
        XCTAssertEqual(got?.1.kind, .hello)
    }
}
