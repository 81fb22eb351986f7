// Reshapes K maps per image into K rows of h*w features, so one dense layer can read every map.
import Compute

/// Input [N, K, h, w] (any 4-D layout); output [N*K, h*w] plain (`.nc`): row n*K + k is map k of
/// image n, row-major. No parameters.
public final class MapFlatten: Layer {
    public var computesInputGradient = true
    public var computesParameterGradients = true
    private let engine: Engine
    private var outputs: [ShapeKey: Tensor] = [:]
    private var inputGradients: [ShapeKey: Tensor] = [:]
    private var lastInput: ShapeKey?

    public init(engine: Engine = .cpu) { self.engine = engine }

    public func outputDims(for input: [Int]) -> [Int] { [input[0] * input[1], input[2] * input[3]] }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        if outputs[x.shapeKey] == nil { outputs[x.shapeKey] = try Tensor(outputDims(for: x.dims), layout: .nc, engine: engine) }
        let out = outputs[x.shapeKey]!
        try out.load(plain: try x.plain())
        lastInput = x.shapeKey
        return out
    }

    public func backward(_ dy: Tensor) throws -> Tensor? {
        guard let shape = lastInput else { throw ModelError("MapFlatten.backward called before forward") }
        guard computesInputGradient else { return nil }
        if inputGradients[shape] == nil { inputGradients[shape] = try Tensor(shape.dims, layout: shape.layout, engine: engine) }
        let dx = inputGradients[shape]!
        try dx.load(plain: try dy.plain())
        return dx
    }
}

