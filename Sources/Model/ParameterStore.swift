// The three flat buffers of a network (parameters, gradients, BN statistics) and their named views.
import Compute

/// What a named tensor in the flat buffers is, which decides weight decay and how it is initialised.
public enum TensorRole: String, Sendable, Codable {
    case convolutionWeight, linearWeight, bias, normScale, normShift, runningMean, runningVariance
    /// Weight decay applies to convolution and linear weights only, never to biases or BN parameters.
    public var decays: Bool { self == .convolutionWeight || self == .linearWeight }
}

/// One named tensor: a dotted name (`backbone.conv_dw_3.weight`), its shape and where it lives.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let role: TensorRole
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// Collects tensor specs in order, then allocates the buffers.
public struct ParameterLayout: Sendable {
    public private(set) var parameters: [TensorSpec] = []
    public private(set) var statistics: [TensorSpec] = []
    public private(set) var parameterCount = 0
    public private(set) var statisticCount = 0

    public init() {}

    /// Adds a trainable tensor and returns its spec.
    @discardableResult
    public mutating func addParameter(_ name: String, _ shape: [Int], _ role: TensorRole) -> TensorSpec {
        precondition(!parameters.contains { $0.name == name }, "duplicate parameter \(name)")
        let spec = TensorSpec(name: name, shape: shape, offset: parameterCount, role: role)
        parameters.append(spec)
        parameterCount += spec.count
        return spec
    }

    /// Adds a non-trainable statistic (BN running mean or variance).
    @discardableResult
    public mutating func addStatistic(_ name: String, _ shape: [Int], _ role: TensorRole) -> TensorSpec {
        let spec = TensorSpec(name: name, shape: shape, offset: statisticCount, role: role)
        statistics.append(spec)
        statisticCount += spec.count
        return spec
    }
}

/// All trainable parameters in one buffer, all gradients in another of the same layout, all BN
/// running statistics in a third (DESIGN.md invariant 1). Layers hold views into them.
public final class ParameterStore: @unchecked Sendable {
    public let layout: ParameterLayout
    public let parameters: FlatBuffer
    public let gradients: FlatBuffer
    public let statistics: FlatBuffer
    private let index: [String: TensorSpec]

    public init(_ layout: ParameterLayout) {
        self.layout = layout
        parameters = FlatBuffer(count: layout.parameterCount)
        gradients = FlatBuffer(count: layout.parameterCount)
        statistics = FlatBuffer(count: layout.statisticCount)
        var index: [String: TensorSpec] = [:]
        for s in layout.parameters + layout.statistics { index[s.name] = s }
        self.index = index
    }

    public func spec(_ name: String) -> TensorSpec? { index[name] }

    /// The parameter/gradient view of a trainable tensor.
    public func slice(_ name: String) -> ParameterSlice {
        guard let s = index[name], layout.parameters.contains(s) else { preconditionFailure("no parameter \(name)") }
        return ParameterSlice(values: parameters.base + s.offset, gradients: gradients.base + s.offset, count: s.count)
    }

    /// A pointer to a statistic's values.
    public func statistic(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let s = index[name], layout.statistics.contains(s) else { preconditionFailure("no statistic \(name)") }
        return statistics.base + s.offset
    }

    /// The values of any named tensor (parameter or statistic), copied.
    public func values(_ name: String) -> [Float]? {
        guard let s = index[name] else { return nil }
        let buffer = layout.parameters.contains(s) ? parameters : statistics
        return Array(UnsafeBufferPointer(start: buffer.base + s.offset, count: s.count))
    }

    /// Replaces the values of a named tensor.
    public func setValues(_ name: String, _ values: [Float]) {
        guard let s = index[name] else { preconditionFailure("no tensor \(name)") }
        precondition(values.count == s.count, "\(name) needs \(s.count) values, got \(values.count)")
        let buffer = layout.parameters.contains(s) ? parameters : statistics
        values.withUnsafeBufferPointer { (buffer.base + s.offset).update(from: $0.baseAddress!, count: s.count) }
    }
}
