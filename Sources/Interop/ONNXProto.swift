// The few ONNX messages an exported model needs (ModelProto, GraphProto, NodeProto, AttributeProto,
// TensorProto, ValueInfoProto with its TypeProto and TensorShapeProto), written with ProtobufWriter.
// Field numbers are those of onnx/onnx.proto (ONNX 1.x; they never change once released).
import ModelFiles

/// TensorProto.DataType values used here.
enum ONNXDataType: Int64 {
    case float = 1
    case int64 = 7
}

/// TensorProto: a constant tensor (an initializer), its data little-endian in `raw_data`.
struct ONNXTensor {
    var name: String
    var dims: [Int]
    var dataType: ONNXDataType = .float
    var rawData: [UInt8]
    var doc: String = ""

    /// A float32 tensor of `dims` holding `values` in row-major order.
    static func float(_ name: String, dims: [Int], _ values: [Float], doc: String = "") -> ONNXTensor {
        precondition(values.count == dims.reduce(1, *), "\(name): dims \(dims) vs \(values.count) values")
        var raw = [UInt8]()
        raw.reserveCapacity(4 * values.count)
        for v in values {
            let w = v.bitPattern
            raw.append(UInt8(truncatingIfNeeded: w)); raw.append(UInt8(truncatingIfNeeded: w >> 8))
            raw.append(UInt8(truncatingIfNeeded: w >> 16)); raw.append(UInt8(truncatingIfNeeded: w >> 24))
        }
        return ONNXTensor(name: name, dims: dims, rawData: raw, doc: doc)
    }

    /// An int64 tensor of `dims` (a Reshape's target shape).
    static func int64(_ name: String, dims: [Int], _ values: [Int64]) -> ONNXTensor {
        precondition(values.count == dims.reduce(1, *), "\(name): dims \(dims) vs \(values.count) values")
        var raw = [UInt8]()
        raw.reserveCapacity(8 * values.count)
        for v in values {
            let w = UInt64(bitPattern: v)
            for byte in 0..<8 { raw.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(byte)))) }
        }
        return ONNXTensor(name: name, dims: dims, dataType: .int64, rawData: raw)
    }

    func write(to w: inout ProtobufWriter) {
        w.packedInts(1, dims.map(Int64.init))   // repeated int64 dims = 1
        w.int(2, dataType.rawValue)             // int32 data_type = 2
        w.string(8, name)                       // string name = 8
        if !doc.isEmpty { w.string(12, doc) }   // string doc_string = 12
        w.bytes(9, rawData)                     // bytes raw_data = 9
    }
}

/// AttributeProto: a named operator attribute of one of the types below.
struct ONNXAttribute {
    enum Value {
        case int(Int64), ints([Int64])
    }
    var name: String
    var value: Value

    static func int(_ name: String, _ v: Int) -> ONNXAttribute { ONNXAttribute(name: name, value: .int(Int64(v))) }
    static func ints(_ name: String, _ v: [Int]) -> ONNXAttribute { ONNXAttribute(name: name, value: .ints(v.map(Int64.init))) }

    func write(to w: inout ProtobufWriter) {
        w.string(1, name)                       // string name = 1
        switch value {                          // AttributeType type = 20: INT 2, INTS 7
        case .int(let i): w.int(20, 2); w.int(3, i)                // int64 i = 3
        case .ints(let list): w.int(20, 7); w.packedInts(8, list)  // repeated int64 ints = 8
        }
    }
}

/// NodeProto: one operator call, wired to values by name.
struct ONNXNode {
    var opType: String
    var inputs: [String]
    var outputs: [String]
    var name: String
    var attributes: [ONNXAttribute] = []

    func write(to w: inout ProtobufWriter) {
        for i in inputs { w.string(1, i) }      // repeated string input = 1
        for o in outputs { w.string(2, o) }     // repeated string output = 2
        w.string(3, name)                       // string name = 3
        w.string(4, opType)                     // string op_type = 4 (default domain "ai.onnx")
        for a in attributes { w.message(5) { a.write(to: &$0) } }  // repeated AttributeProto attribute = 5
    }
}

/// One dimension of a TensorShapeProto: a fixed size, or a symbolic name (any size at run time).
enum ONNXDimension: Equatable {
    case value(Int)
    case parameter(String)
}

/// ValueInfoProto: a graph input or output with its element type and shape.
struct ONNXValueInfo {
    var name: String
    var elementType: ONNXDataType = .float
    var shape: [ONNXDimension]
    var doc: String = ""

    func write(to w: inout ProtobufWriter) {
        w.string(1, name)                                      // string name = 1
        w.message(2) { type in                                 // TypeProto type = 2
            type.message(1) { tensor in                        //   TypeProto.Tensor tensor_type = 1
                tensor.int(1, elementType.rawValue)            //     int32 elem_type = 1
                tensor.message(2) { shapeProto in              //     TensorShapeProto shape = 2
                    for d in shape {
                        shapeProto.message(1) { dim in         //       repeated Dimension dim = 1
                            switch d {
                            case .value(let v): dim.int(1, Int64(v))          // int64 dim_value = 1
                            case .parameter(let p): dim.string(2, p)          // string dim_param = 2
                            }
                        }
                    }
                }
            }
        }
        if !doc.isEmpty { w.string(3, doc) }                   // string doc_string = 3
    }
}

/// GraphProto: nodes in topological order, constant initializers, and the graph's inputs and outputs.
struct ONNXGraph {
    var name: String
    var nodes: [ONNXNode] = []
    var initializers: [ONNXTensor] = []
    var inputs: [ONNXValueInfo] = []
    var outputs: [ONNXValueInfo] = []
    var doc: String = ""

    func write(to w: inout ProtobufWriter) {
        for n in nodes { w.message(1) { n.write(to: &$0) } }          // repeated NodeProto node = 1
        w.string(2, name)                                             // string name = 2
        for t in initializers { w.message(5) { t.write(to: &$0) } }   // repeated TensorProto initializer = 5
        if !doc.isEmpty { w.string(10, doc) }                         // string doc_string = 10
        for i in inputs { w.message(11) { i.write(to: &$0) } }        // repeated ValueInfoProto input = 11
        for o in outputs { w.message(12) { o.write(to: &$0) } }       // repeated ValueInfoProto output = 12
    }
}

/// ModelProto: the file. One opset import (the default "ai.onnx" domain), free-form string metadata.
struct ONNXModel {
    /// ONNX IR version 8 (ONNX 1.10+); every ONNX Runtime since 1.10 loads it.
    var irVersion: Int = 8
    var opsetVersion: Int
    var producerName: String
    var producerVersion: String
    var doc: String = ""
    var graph: ONNXGraph
    /// metadata_props, in order (keys should be unique).
    var metadata: [(key: String, value: String)] = []

    /// The serialized ModelProto: the bytes of a `.onnx` file.
    func serialized() -> [UInt8] {
        var w = ProtobufWriter()
        w.int(1, Int64(irVersion))                 // int64 ir_version = 1
        w.string(2, producerName)                  // string producer_name = 2
        w.string(3, producerVersion)               // string producer_version = 3
        if !doc.isEmpty { w.string(6, doc) }       // string doc_string = 6
        w.message(7) { graph.write(to: &$0) }      // GraphProto graph = 7
        w.message(8) { opset in                    // repeated OperatorSetIdProto opset_import = 8
            opset.string(1, "")                    //   string domain = 1 ("" = ai.onnx)
            opset.int(2, Int64(opsetVersion))      //   int64 version = 2
        }
        for (key, value) in metadata {             // repeated StringStringEntryProto metadata_props = 14
            w.message(14) { entry in
                entry.string(1, key)               //   string key = 1
                entry.string(2, value)             //   string value = 2
            }
        }
        return w.bytes
    }
}
