// CRC-32 in two polynomials: IEEE 802.3 (zlib, PNG) for checkpoint bodies; Castagnoli (CRC-32C,
// iSCSI) for bulk frames on the wire and TensorBoard's record framing, with the CPU's crc32
// instruction where it has one (Sources/CChecksum).
internal import CChecksum

/// CRC-32 of `count` bytes at `bytes`, slicing-by-4 over a table built once. `previous` is the CRC
/// of the bytes before these (as zlib's `crc32(crc, ...)`), so that a file can be checked in pieces.
public func crc32(_ bytes: UnsafeRawPointer, count: Int, continuing previous: UInt32 = 0) -> UInt32 {
    CRC32Table.ieee.checksum(bytes, count: count, continuing: previous)
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of `count` bytes at `bytes`, continuing
/// `previous` as `crc32` does; the check value of the ASCII "123456789" is 0xE3069283. SSE4.2's
/// crc32 instruction where the CPU has it (about 8x the table), else the table.
public func crc32c(_ bytes: UnsafeRawPointer, count: Int, continuing previous: UInt32 = 0) -> UInt32 {
    guard crc32cInHardware else { return crc32cByTable(bytes, count: count, continuing: previous) }
    return ~kp_crc32c_update(~previous, bytes, count)
}

/// CRC-32C by the table, whatever the CPU (to check the hardware path against).
public func crc32cByTable(_ bytes: UnsafeRawPointer, count: Int, continuing previous: UInt32 = 0) -> UInt32 {
    CRC32Table.castagnoli.checksum(bytes, count: count, continuing: previous)
}

/// Whether `crc32c` uses the CPU's instruction.
public let crc32cInHardware = kp_crc32c_hardware() == 1

/// Slicing-by-4 tables of one reflected CRC-32 polynomial.
struct CRC32Table: Sendable {
    let t0: [UInt32], t1: [UInt32], t2: [UInt32], t3: [UInt32]
    static let ieee = CRC32Table(polynomial: 0xEDB8_8320)
    static let castagnoli = CRC32Table(polynomial: 0x82F6_3B78)

    init(polynomial: UInt32) {
        var t0 = [UInt32](repeating: 0, count: 256)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = c & 1 != 0 ? polynomial ^ (c >> 1) : c >> 1 }
            t0[n] = c
        }
        var t1 = t0, t2 = t0, t3 = t0
        for n in 0..<256 {
            t1[n] = t0[Int(t0[n] & 0xFF)] ^ (t0[n] >> 8)
            t2[n] = t0[Int(t1[n] & 0xFF)] ^ (t1[n] >> 8)
            t3[n] = t0[Int(t2[n] & 0xFF)] ^ (t2[n] >> 8)
        }
        self.t0 = t0; self.t1 = t1; self.t2 = t2; self.t3 = t3
    }

    func checksum(_ bytes: UnsafeRawPointer, count: Int, continuing previous: UInt32) -> UInt32 {
        var crc: UInt32 = ~previous
        let p = bytes.assumingMemoryBound(to: UInt8.self)
        var i = 0
        while i + 4 <= count {
            crc ^= UInt32(p[i]) | UInt32(p[i + 1]) << 8 | UInt32(p[i + 2]) << 16 | UInt32(p[i + 3]) << 24
            crc = t3[Int(crc & 0xFF)] ^ t2[Int((crc >> 8) & 0xFF)] ^ t1[Int((crc >> 16) & 0xFF)] ^ t0[Int(crc >> 24)]
            i += 4
        }
        while i < count {
            crc = t0[Int((crc ^ UInt32(p[i])) & 0xFF)] ^ (crc >> 8)
            i += 1
        }
        return crc ^ 0xFFFF_FFFF
    }
}
