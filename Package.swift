// swift-tools-version:6.0
// The keypoints package: a MobileNet keypoint trainer on oneDNN, with one target per job. Arrows
// point down only:
//
//   KeypointsCLI  ->  Training, Cluster, Interop, Data, Model, Compute (+ swift-argument-parser)
//   Cluster       ->  Training, Data, Model, Compute, CZMQ     coordinator, worker, wire, ZeroMQ
//   Training      ->  Data, Model, Compute                     the one step loop, run folder
//   Interop       ->  Model, Compute, CHDF5                    Keras .h5 in, ONNX out
//   Data          ->  Model, Compute, CTurboJPEG, CPNG         labels, codecs, augmentation
//   Model         ->  Compute                                  MobileNetV1, heads, losses, optimizers
//   Compute       ->  CDNNL                                    tensors, oneDNN primitives
//
// Linux only (Debian 12 and its oneDNN, libzmq, libjpeg-turbo, libpng and HDF5 packages; see
// scripts/setup.sh). See README.md and ../shared/DESIGN.md.
import PackageDescription

#if !os(Linux)
fatalError("keypoints builds on Linux only: it links Debian's oneDNN, libzmq, libjpeg-turbo, libpng and HDF5")
#endif

let unchecked: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "keypoints",
    products: [
        .executable(name: "keypoints", targets: ["KeypointsCLI"]),
        .library(name: "KeypointsModel", targets: ["Model"]),
        .library(name: "KeypointsTraining", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries, each behind one tiny system-library target.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        // libzmq.pc adds Kerberos include flags SwiftPM refuses; the header is in /usr/include anyway.
        .systemLibrary(name: "CZMQ", path: "Sources/CZMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        // Debian's serial HDF5: header under /usr/include/hdf5/serial, library libhdf5_serial.
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", providers: [.apt(["libhdf5-dev"])]),

        // Tensors and oneDNN primitives, forward and backward, and the seeded RNG. Knows nothing of keypoints.
        .target(name: "Compute", dependencies: ["CDNNL"], swiftSettings: unchecked),
        // MobileNetV1, keypoint head, losses, optimizers, schedules, metrics, saved models.
        .target(name: "Model", dependencies: ["Compute"], swiftSettings: unchecked),
        // Datasets: label formats, image codecs, augmentation, batching, the synthetic cards.
        .target(name: "Data", dependencies: ["Model", "Compute", "CTurboJPEG", "CPNG"], swiftSettings: unchecked),
        // The training engine: step plan, micro-batch computer, reduction, BN statistics, observers,
        // checkpoints, the run folder, validation and prediction.
        .target(name: "Training", dependencies: ["Data", "Model", "Compute"], swiftSettings: unchecked),
        // Coordinator (a gradient source), worker, the wire protocol and the ZeroMQ transport.
        .target(name: "Cluster", dependencies: ["CZMQ", "Training", "Model", "Data", "Compute"], swiftSettings: unchecked),
        // Other tools' files: Keras MobileNet weights (.h5) in, ONNX out.
        .target(name: "Interop", dependencies: ["CHDF5", "Model", "Compute"]),
        // The `keypoints` command line: parses arguments and wires the layers together.
        .executableTarget(name: "KeypointsCLI", dependencies: [
            "Compute", "Model", "Data", "Training", "Cluster", "Interop",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .target(name: "TestSupport", dependencies: ["Compute", "Model", "Data", "Training"], path: "Tests/TestSupport"),
        .testTarget(name: "ComputeTests", dependencies: ["Compute", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Compute", "Data", "TestSupport"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Model", "Data", "Compute", "TestSupport"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Training", "Model", "Data", "TestSupport"]),
        .testTarget(name: "InteropTests", dependencies: ["Interop", "Model", "Compute", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "Cluster", "Data", "Model"]),
    ],
    swiftLanguageModes: [.v6]
)
