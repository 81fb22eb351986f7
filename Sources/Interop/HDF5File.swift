// Reading HDF5 files (through libhdf5): every floating-point dataset under its full path.
// Only what weight import needs: walk the groups, read float datasets of any width as Float32.
internal import CHDF5

/// A dataset read from a file: its path inside the file ("conv1/conv1/kernel:0"), its shape as
/// stored (row-major, Keras order) and its values converted to Float32.
public struct StoredArray: Sendable {
    public let path: String
    public let shape: [Int]
    public let values: [Float]
}

/// One open HDF5 file, read-only. The handle is closed when the object goes away.
public final class HDF5File {
    public let path: String
    private let handle: hid_t

    /// Opens `path`; the error says whether the file is missing or simply not HDF5.
    public init(path: String) throws {
        kp_h5_silence()
        self.path = path
        let kind = kp_h5_is_hdf5(path)
        if kind < 0 { throw InteropError("\(path): cannot be read (missing or unreadable)") }
        if kind == 0 {
            let hint = path.hasSuffix(".keras") ? "; a .keras file is a zip archive: unzip it and use its model.weights.h5" : ""
            throw InteropError("\(path) is not an HDF5 file (expected a Keras .h5 weights file)\(hint)")
        }
        handle = kp_h5_open(path)
        if handle < 0 { throw InteropError("\(path): libhdf5 could not open it read-only (truncated or damaged?)") }
    }

    deinit { kp_h5_close_file(handle) }

    /// Every floating-point dataset in the file, depth first in name order, with values.
    /// Non-float datasets (strings, integers such as optimizer step counters) are left out.
    public func floatArrays() throws -> [StoredArray] {
        var out: [StoredArray] = []
        try walk(group: handle, prefix: "", depth: 0, into: &out)
        return out
    }

    private func walk(group: hid_t, prefix: String, depth: Int, into out: inout [StoredArray]) throws {
        guard depth < 32 else { throw InteropError("\(path): groups nest deeper than 32 levels at \(prefix)") }
        let count = kp_h5_link_count(group)
        if count < 0 { throw InteropError("\(path): cannot list group /\(prefix)") }
        for index in 0..<UInt64(count) {
            let name = try linkName(group, index, prefix: prefix)
            let full = prefix.isEmpty ? name : "\(prefix)/\(name)"
            switch kp_h5_member_kind(group, name) {
            case 1:
                let child = kp_h5_open_group(group, name)
                if child < 0 { throw InteropError("\(path): cannot open group /\(full)") }
                defer { kp_h5_close_group(child) }
                try walk(group: child, prefix: full, depth: depth + 1, into: &out)
            case 2:
                if let array = try readDataset(group, name, full: full) { out.append(array) }
            case 0:
                continue
            default:
                // A dangling soft or external link: nothing to read there.
                continue
            }
        }
    }

    private func linkName(_ group: hid_t, _ index: UInt64, prefix: String) throws -> String {
        let length = kp_h5_link_name(group, index, nil, 0)
        if length < 0 { throw InteropError("\(path): cannot read member \(index) of /\(prefix)") }
        var buffer = [CChar](repeating: 0, count: Int(length) + 1)
        _ = kp_h5_link_name(group, index, &buffer, buffer.count)
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func readDataset(_ group: hid_t, _ name: String, full: String) throws -> StoredArray? {
        let dataset = kp_h5_open_dataset(group, name)
        if dataset < 0 { throw InteropError("\(path): cannot open dataset /\(full)") }
        defer { kp_h5_close_dataset(dataset) }
        let isFloat = kp_h5_dataset_is_float(dataset)
        if isFloat < 0 { throw InteropError("\(path): cannot read the type of dataset /\(full)") }
        guard isFloat == 1 else { return nil }
        var dims = [UInt64](repeating: 0, count: 32)
        let rank = kp_h5_dataset_shape(dataset, &dims, 32)
        if rank < 0 { throw InteropError("\(path): cannot read the shape of dataset /\(full)") }
        // A damaged file can claim any dimensions: check them before multiplying.
        let limit: UInt64 = 1 << 30
        var total: UInt64 = 1
        for d in dims.prefix(Int(rank)) {
            guard d <= limit, total * max(d, 1) <= limit else {
                throw InteropError("\(path): dataset /\(full) claims dimensions \(Array(dims.prefix(Int(rank)))), too large for weights (damaged file?)")
            }
            total *= d
        }
        let shape = dims.prefix(Int(rank)).map { Int($0) }
        let count = Int(total)
        var values = [Float](repeating: 0, count: count)
        if count > 0, kp_h5_read_floats(dataset, &values) < 0 {
            throw InteropError("\(path): cannot read dataset /\(full) (damaged file?)")
        }
        return StoredArray(path: full, shape: shape, values: values)
    }
}
