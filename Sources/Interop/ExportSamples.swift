// Reference inputs and outputs for an exported model: seeded random images and this library's own
// predictions for them, in a safetensors file, so any other runtime can be checked against ours.
import Model
import Compute
import Foundation
import ModelFiles

public enum ExportSamples {
    /// `count` seeded random images and the network's predictions, as safetensors bytes:
    /// `input` [N, 3, S, S] float32 whole pixel values in [0, 255] (the exported graph's input, before
    /// normalisation) and `output` [N, 2K] float32 in [0, 1] of the input frame, from
    /// `KeypointNetwork.predict` on the normalised pixels (``InputNormalization``) in one batch of N.
    public static func safetensors(_ network: KeypointNetwork, count: Int, seed: UInt64) throws -> Data {
        precondition(count >= 1, "at least one sample")
        let s = network.config.backbone.inputSize, k = network.config.keypoints
        var rng = SplitMix64(seed: seed)
        let pixels = (0..<count * 3 * s * s).map { _ in Float(rng.next() % 256) }
        // The same arithmetic as the training pipeline's SampleRenderer and the graph's Div and Sub.
        let normalised = pixels.map(InputNormalization.input(fromPixel:))
        let output = try network.predict(normalised, batch: count)
        return try SafeTensors.encode([NamedTensor(name: "input", shape: [count, 3, s, s], values: pixels),
                                       NamedTensor(name: "output", shape: [count, 2 * k], values: output)],
                                      metadata: ["producer": "keypoints export --samples",
                                                 "input": "float32 NCHW RGB pixel values in [0, 255] (seed \(seed))",
                                                 "output": "keypoints' own predictions [N, 2K] in [0, 1] of the input frame"])
    }
}
