// `keypoints import-weights keras FILE.h5 --out BACKBONE`: a Keras MobileNet's weights (ImageNet
// or any other) as a backbone folder that `train --init-from` starts from.
import ArgumentParser
import Foundation
import Interop
import Model
import ModelFiles

struct ImportWeights: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-weights",
        abstract: "Import a pretrained MobileNet backbone (Keras .h5 weights) for train --init-from.",
        discussion: """
            FILE is a weights file of keras.applications.MobileNet, such as the ImageNet files Keras keeps \
            in ~/.keras/models/ (mobilenet_1_0_224_tf_no_top.h5; the with-top files work too, the classifier \
            is ignored), a model.save_weights("x.h5") or model.save("x.h5") file, also of your own model with \
            MobileNet inside (its other layers are ignored), or a Keras 3 x.weights.h5 file (unzip a .keras \
            archive to get it). The width \
            multiplier is read from the file; the input size is free (the weights fit any size).
            """)

    @Argument(help: "Where the weights come from: keras.") var framework: String
    @Argument(help: "The weights file (.h5).") var file: String
    @Option(help: "Folder to write the backbone to (model.safetensors + model.json).") var out: String
    @Option(help: "Require this width multiplier (the file's is used when omitted).") var alpha: Double?

    func validate() throws {
        guard framework == "keras" else {
            throw ValidationError("unknown framework \(framework); keypoints imports keras MobileNet weights (.h5)")
        }
    }

    func run() throws {
        Self.capAddressSpace()
        let imported = try KerasMobileNetImport.read(path: file, alpha: alpha)
        var provenance = ["source": "keras", "file": (file as NSString).lastPathComponent]
        // keras.applications names its files mobilenet_<alpha>_<size>_tf[_no_top].h5.
        if let size = [128, 160, 192, 224].first(where: { provenance["file"]!.contains("_\($0)_") }) {
            provenance["pretrained_input_size"] = "\(size)"
        }
        let config = MobileNetV1Config(alpha: imported.alpha, inputSize: Int(provenance["pretrained_input_size"] ?? "224")!)
        try SavedModel.saveBackbone(imported.tensors, config: config, to: URL(fileURLWithPath: out), provenance: provenance)
        let values = imported.tensors.reduce(0) { $0 + $1.values.count }
        print("imported MobileNet alpha \(imported.alpha) from \(file): \(imported.tensors.count) tensors, \(values) values")
        if !imported.ignoredLayers.isEmpty {
            print("ignored layers that are not part of the backbone: \(imported.ignoredLayers.joined(separator: ", "))")
        }
        print("wrote \(out); train from it with: keypoints train --init-from \(out) "
              + "--freeze-backbone-epochs N ...")
    }

    /// libhdf5 trusts the sizes written in a file: a damaged one can make it ask for many GiB, which
    /// Linux grants and the OOM killer then takes back with the whole process. This command does
    /// nothing else, so it caps its own address space (2 GiB; importing the largest MobileNet, alpha 1.0,
    /// runs within 512 MiB): such a file then gets a clean error naming it instead.
    private static func capAddressSpace() {
        let cap: rlim_t = 2 << 30
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur > cap else { return }
        limit.rlim_cur = cap
        _ = setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
    }
}
