// CRC-32 (IEEE 802.3, the zlib/PNG polynomial): bulk frames on the wire and checkpoint bodies.

/// CRC-32 of `count` bytes at `bytes`, slicing-by-4 over a table built once. `previous` is the CRC
/// of the bytes before these (as zlib's `crc32(crc, ...)`), so that a file can be checked in pieces.
public func crc32(_ bytes: UnsafeRawPointer, count: Int, continuing previous: UInt32 = 0) -> UInt32 {
    let t = CRC32Table.shared
    var crc: UInt32 = ~previous
    let p = bytes.assumingMemoryBound(to: UInt8.self)
    var i = 0
    while i + 4 <= count {
        crc ^= UInt32(p[i]) | UInt32(p[i + 1]) << 8 | UInt32(p[i + 2]) << 16 | UInt32(p[i + 3]) << 24
        crc = t.t3[Int(crc & 0xFF)] ^ t.t2[Int((crc >> 8) & 0xFF)] ^ t.t1[Int((crc >> 16) & 0xFF)] ^ t.t0[Int(crc >> 24)]
        i += 4
    }
    while i < count {
        crc = t.t0[Int((crc ^ UInt32(p[i])) & 0xFF)] ^ (crc >> 8)
        i += 1
    }
    return crc ^ 0xFFFF_FFFF
}

private struct CRC32Table: Sendable {
    let t0: [UInt32], t1: [UInt32], t2: [UInt32], t3: [UInt32]
    static let shared = CRC32Table()

    init() {
        var t0 = [UInt32](repeating: 0, count: 256)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
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
}
