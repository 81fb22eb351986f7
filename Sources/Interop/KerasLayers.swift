// Where Keras puts each layer's variables in an .h5 file, for every layout keypoints reads: legacy
// ("<layer>/<layer>/kernel:0", under "model_weights/" for whole models, "<model>/<layer>/kernel:0"
// when MobileNet is nested in a user's model) and Keras 3 ("<containers>/layers/<class>_<n>/vars/<i>").
import Model

/// The file's float arrays grouped by Keras layer, each keyed by variable name ("kernel", "gamma",
/// "moving_mean", ...) or, for Keras 3 files, by position ("#0", "#1", ...). Legacy layers are
/// keyed by layer name; Keras 3 layers by their path without "/vars" ("layers/functional/layers/conv2d"),
/// until ``nameKeras3Layers(_:)`` names MobileNet's.
struct KerasLayers {
    /// Top-level groups holding optimizer state, never weights.
    static let optimizerGroups: Set<String> = ["optimizer", "optimizer_weights"]

    private(set) var variables: [String: [String: StoredArray]] = [:]

    init(_ arrays: [StoredArray]) {
        for array in arrays {
            var parts = array.path.split(separator: "/").map(String.init)
            if let first = parts.first, Self.optimizerGroups.contains(first) { continue }
            if let vars = parts.lastIndex(of: "vars"), vars > 0, vars + 1 < parts.count {
                // Keras 3: the whole path names the layer, so that a user model's own `conv2d` and the
                // nested MobileNet's `conv2d` (each model counts from 0) stay apart.
                variables[parts[..<vars].joined(separator: "/"), default: [:]]["#\(parts[vars + 1])"] = array
                continue
            }
            if parts.first == "model_weights" { parts.removeFirst() }   // a whole-model .h5
            guard parts.count >= 2, let last = parts.last else { continue }
            let variable = String(last.split(separator: ":").first ?? Substring(last))
            variables[parts[parts.count - 2], default: [:]][variable] = array
        }
    }

    /// Layer names, sorted.
    var names: [String] { variables.keys.sorted() }

    /// Keras 3 `.weights.h5` files name layers by class and position in `model.layers`
    /// (`conv2d`, `conv2d_1`, ..., `depthwise_conv2d`, ..., `batch_normalization`, ...), not by the
    /// layer's own name. When the file is one of those, finds the model holding MobileNet (the one
    /// with the most depthwise layers) and gives each of its layers the Keras layer name (conv1 =
    /// conv2d, conv_pw_1 = conv2d_1, conv_dw_1 = depthwise_conv2d, conv1_bn = batch_normalization,
    /// ...), so both layouts read the same way. Widths do not matter here.
    mutating func nameKeras3Layers(_ units: [ConvUnit]) {
        guard variables["conv1"] == nil else { return }
        var depthwise: [String: Int] = [:]   // container path ("layers/functional/layers/") -> depthwise layers
        for key in variables.keys {
            let parts = key.split(separator: "/", omittingEmptySubsequences: false)
            guard let last = parts.last, last.hasPrefix("depthwise_conv2d") else { continue }
            depthwise[parts.dropLast().map { $0 + "/" }.joined(), default: 0] += 1
        }
        guard let container = depthwise.max(by: { ($0.value, $1.key) < ($1.value, $0.key) })?.key else { return }
        var counters: [String: Int] = [:]
        func next(_ kind: String) -> String {
            let n = counters[kind, default: 0]
            counters[kind] = n + 1
            return container + (n == 0 ? kind : "\(kind)_\(n)")
        }
        for unit in units {
            let conv = next(unit.geometry.groups > 1 ? "depthwise_conv2d" : "conv2d")
            let bn = next("batch_normalization")
            if let v = variables.removeValue(forKey: conv) { variables[unit.name] = v }
            if let v = variables.removeValue(forKey: bn) { variables["\(unit.name)_bn"] = v }
        }
    }

    func layer(_ name: String, path: String) throws -> [String: StoredArray] {
        guard let weights = variables[name] else {
            throw InteropError("\(path) has no weights for layer \(name): it is not a complete keras.applications.MobileNet "
                               + "(depth_multiplier 1) weights file")
        }
        return weights
    }
}
