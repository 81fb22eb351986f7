// What differs between two run configurations, leaf by leaf, in the words of their JSON form
// (`training.learningRate: recorded 0.01, given 0.02`): how a refused resume explains itself.
import Foundation

extension RunConfig {
    /// `path: recorded X, given Y` for every leaf where `self` (recorded) and `given` differ, sorted by path.
    public func differences(from given: RunConfig) -> [String] {
        let a = Self.leaves(of: self), b = Self.leaves(of: given)
        return Set(a.keys).union(b.keys).sorted().compactMap { key in
            a[key] == b[key] ? nil : "\(key): recorded \(a[key] ?? "(none)"), given \(b[key] ?? "(none)")"
        }
    }

    /// Leaf path (`model.head.hidden`, `training.schedule.cosine.total`) -> JSON text of the value.
    private static func leaves(of config: RunConfig) -> [String: String] {
        guard let data = try? JSONEncoder().encode(config), let tree = try? JSONSerialization.jsonObject(with: data) else { return [:] }
        return flatten(tree, prefix: "")
    }

    private static func flatten(_ value: Any, prefix: String) -> [String: String] {
        if let object = value as? [String: Any] {
            return object.reduce(into: [:]) { out, entry in
                out.merge(flatten(entry.value, prefix: prefix.isEmpty ? entry.key : "\(prefix).\(entry.key)")) { a, _ in a }
            }
        }
        if let array = value as? [Any], array.contains(where: { $0 is [String: Any] || $0 is [Any] }) {
            return array.enumerated().reduce(into: [:]) { out, entry in
                out.merge(flatten(entry.element, prefix: "\(prefix)[\(entry.offset)]")) { a, _ in a }
            }
        }
        let data = (try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])) ?? Foundation.Data("[?]".utf8)
        return [prefix: String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())]
    }
}
