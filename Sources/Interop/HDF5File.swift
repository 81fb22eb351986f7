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

    deinit { if handle >= 0 { kp_h5_close_file(handle) } }

    /// What a weights file may hold at most. A damaged or hostile file can claim anything (libhdf5
    /// trusts its sizes), so these stop the walk with an error long before memory runs out. The
    /// largest MobileNet array (alpha 1.0's 1024 x 1024 or the 1024 x 1000 classifier) has 2^20 values.
    static let maxObjects = 100_000
    static let maxDatasetValues: UInt64 = 1 << 24
    static let maxTotalValues: UInt64 = 1 << 26
    static let maxNameLength = 4096

    private struct Walk {
        var objects = 0
        var values: UInt64 = 0
        var arrays: [StoredArray] = []
    }

    /// Every floating-point dataset in the file, depth first in name order, with values, except
    /// under the top-level groups named in `skipping` (e.g. an optimizer's state).
    /// Non-float datasets (strings, integers such as optimizer step counters) are left out.
    public func floatArrays(skipping: Set<String> = []) throws -> [StoredArray] {
        var state = Walk()
        try walk(group: handle, prefix: "", depth: 0, skipping: skipping, state: &state)
        return state.arrays
    }

    private func walk(group: hid_t, prefix: String, depth: Int, skipping: Set<String>, state: inout Walk) throws {
        guard depth < 32 else { throw InteropError("\(path): groups nest deeper than 32 levels at \(prefix)") }
        let count = kp_h5_link_count(group)
        if count < 0 { throw InteropError("\(path): cannot list group /\(prefix)") }
        for index in 0..<UInt64(count) {
            state.objects += 1
            guard state.objects <= Self.maxObjects else {
                throw InteropError("\(path) holds more than \(Self.maxObjects) objects (at /\(prefix)); not a weights file, or damaged")
            }
            let name = try linkName(group, index, prefix: prefix)
            if depth == 0 && skipping.contains(name) { continue }
            let full = prefix.isEmpty ? name : "\(prefix)/\(name)"
            switch kp_h5_member_kind(group, name) {
            case 1:
                let child = kp_h5_open_group(group, name)
                if child < 0 { throw InteropError("\(path): cannot open group /\(full)") }
                defer { kp_h5_close_group(child) }
                try walk(group: child, prefix: full, depth: depth + 1, skipping: skipping, state: &state)
            case 2:
                if let array = try readDataset(group, name, full: full, state: &state) { state.arrays.append(array) }
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
        guard length <= Self.maxNameLength else {
            throw InteropError("\(path): member \(index) of /\(prefix) claims a \(length)-byte name (damaged file?)")
        }
        var buffer = [CChar](repeating: 0, count: Int(length) + 1)
        _ = kp_h5_link_name(group, index, &buffer, buffer.count)
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func readDataset(_ group: hid_t, _ name: String, full: String, state: inout Walk) throws -> StoredArray? {
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
        let claimed = Array(dims.prefix(Int(rank)))
        var total: UInt64 = 1
        for d in claimed {
            guard d <= Self.maxDatasetValues, total * max(d, 1) <= Self.maxDatasetValues else {
                throw InteropError("\(path): dataset /\(full) claims dimensions \(claimed), more than a weights file holds (damaged file?)")
            }
            total *= d
        }
        state.values += total
        guard state.values <= Self.maxTotalValues else {
            throw InteropError("\(path) holds more than \(Self.maxTotalValues) values (at /\(full)); not a MobileNet weights file, or damaged")
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
