// Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the raw little-endian data.
import Foundation
import Model

/// A named f32 tensor for safetensors files.
public struct NamedTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name; self.shape = shape; self.values = values
    }
}

public enum SafeTensors {
    /// Encodes tensors (in the given order) and string metadata.
    public static func encode(_ tensors: [NamedTensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            precondition(t.values.count == t.shape.reduce(1, *), "\(t.name): shape \(t.shape) vs \(t.values.count) values")
            let bytes = t.values.count * 4
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }  // pad with spaces so data starts 8-byte aligned
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for t in tensors {
            t.values.withUnsafeBufferPointer { buf in
                buf.withMemoryRebound(to: UInt32.self) { words in
                    var le = [UInt32](repeating: 0, count: words.count)
                    for i in 0..<words.count { le[i] = words[i].littleEndian }
                    le.withUnsafeBytes { out.append(contentsOf: $0) }
                }
            }
        }
        return out
    }

    /// The number of elements of `shape`, or nil when a dimension is negative, there are more than
    /// 8, or the product (times 4 bytes) overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        guard shape.count <= 8 else { return nil }
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            count = product
        }
        return count.multipliedReportingOverflow(by: 4).overflow ? nil : count
    }

    /// Decodes an F32 safetensors file; `source` names it in error messages. Every header entry is
    /// checked (dtype, shape, byte range) before any tensor is read: bad input is an error, never a trap.
    public static func decode(_ data: Data, source: String) throws -> (tensors: [String: NamedTensor], metadata: [String: String]) {
        func fail(_ why: String) -> ModelError {
            ModelError("\(source): not a valid safetensors file (\(why)); re-save the model or check the path")
        }
        let data = data.startIndex == 0 ? data : Data(data)
        guard data.count >= 8 else { throw fail("only \(data.count) bytes") }
        let headerLength = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8) else { throw fail("header length \(headerLength) exceeds the file") }
        let start = 8 + Int(headerLength)
        let headerData = data.subdata(in: 8..<start)
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var tensors: [String: NamedTensor] = [:]
        let body = data.count - start
        for (name, value) in header {
            if name == "__metadata__" { metadata = value as? [String: String] ?? [:]; continue }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("entry \(name) lacks dtype, shape or data_offsets")
            }
            guard dtype == "F32" else { throw fail("tensor \(name) has dtype \(dtype); only F32 is supported") }
            guard let count = elementCount(shape) else {
                throw fail("tensor \(name) has shape \(shape): dimensions must be 0 or more, at most 8 of them, and their product fit the file")
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= body, offsets[1] - offsets[0] == count * 4 else {
                throw fail("tensor \(name) byte range \(offsets) does not fit its shape \(shape) or the file")
            }
            var values = [Float](repeating: 0, count: count)
            data.withUnsafeBytes { raw in
                let base = raw.baseAddress!.advanced(by: start + offsets[0])
                for i in 0..<count {
                    values[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            }
            tensors[name] = NamedTensor(name: name, shape: shape, values: values)
        }
        return (tensors, metadata)
    }
}
