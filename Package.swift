// swift-tools-version:6.0
// The keypoints package: a MobileNet keypoint trainer on oneDNN, with one target per job. Arrows
// point down only:
//
//   KeypointsCLI  ->  Training, Cluster, Monitor, Interop, Data, ModelFiles, Model, Compute (+ argument parser, swift-log, Yams)
//   Monitor       ->  Training (+ Hummingbird, swift-prometheus)  metrics endpoint and status page
//   Cluster       ->  Training, Data, Model, Compute, CZMQ     coordinator, worker, wire, ZeroMQ
//   Training      ->  Data, ModelFiles, Model, Compute         the one step loop, run folder
//   Interop       ->  ModelFiles, Model, Compute, CHDF5        Keras .h5 in, ONNX out
//   Data          ->  Model, Compute, CTurboJPEG, CPNG, CFreeType, Yams   labels (CSV, COCO, DeepLabCut, YOLO), codecs, text
//   ModelFiles    ->  Model                                    safetensors, saved models, durable writes
//   Model         ->  Compute, CChecksum                       MobileNetV1, heads, losses, optimizers, checksums
//   Compute       ->  CDNNL                                    tensors, oneDNN primitives
//
// Linux only (Debian 12 and its oneDNN, libzmq, libjpeg-turbo, libpng and HDF5 packages; see
// scripts/setup.sh). See README.md and ../shared/DESIGN.md.
import PackageDescription

#if !os(Linux)
fatalError("keypoints builds on Linux only: it links Debian's oneDNN, libzmq, libjpeg-turbo, libpng and HDF5")
#endif

// -Ounchecked (no overflow or bounds traps) only where a benchmark shows it matters and no bytes
// are parsed: Compute (kernels' glue), Model (heads, losses, optimizer loops) and Training
// (reduction, BN fold). Measured 2026-12-02 on an AMD EPYC, 2 threads, `bench --mode train
// --alpha 0.25 --input-size 128 --head heatmap --batch 16`, medians of 3 interleaved runs: 654
// images/s with it there, 605 with it only on Compute. Every target that parses files or messages
// keeps Swift's checks: ModelFiles (safetensors, saved models), Data (labels, descriptions,
// images), Cluster (the wire), Interop. Training reads checkpoints only through ModelFiles and
// Foundation's JSON decoder. The cost: `bench --mode data` 80 -> 74 images/s; a 3-epoch `train` on
// 128 cards took 2.0-2.3 s either way.
let unchecked: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "keypoints",
    products: [
        .executable(name: "keypoints", targets: ["KeypointsCLI"]),
        .library(name: "KeypointsModel", targets: ["Model", "ModelFiles"]),
        .library(name: "KeypointsTraining", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Log levels and the console's log handler (Sources/KeypointsCLI/Console.swift).
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        // The operator's endpoint: an HTTP server (Hummingbird on SwiftNIO) and Prometheus metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        // YAML config files (--config, RUN/config.yaml): libyaml inside, no other dependency.
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
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
        // FreeType (keypoint names on label sheets); header under /usr/include/freetype2.
        .systemLibrary(name: "CFreeType", path: "Sources/CFreeType", pkgConfig: "freetype2",
                       providers: [.apt(["libfreetype-dev"])]),

        // CRC-32C with the CPU's crc32 instruction (our C, for the wire's per-frame checksums).
        .target(name: "CChecksum", path: "Sources/CChecksum"),
        // Batch norm + ReLU6 over blocked activations in two passes each way (our C, on libgomp's threads).
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O3"])],
                linkerSettings: [.linkedLibrary("gomp")]),

        // Tensors and oneDNN primitives, forward and backward, and the seeded RNG. Knows nothing of keypoints.
        .target(name: "Compute", dependencies: ["CDNNL", "CKernels"], swiftSettings: unchecked),
        // MobileNetV1, keypoint heads, losses, optimizers, schedules, metrics.
        .target(name: "Model", dependencies: ["Compute", "CChecksum"], swiftSettings: unchecked),
        // Files of models: safetensors, saved-model folders, durable (crash-safe) writes. Parses input.
        .target(name: "ModelFiles", dependencies: ["Model"]),
        // Datasets: label formats, image codecs, augmentation, batching, the synthetic cards.
        .target(name: "Data", dependencies: ["Model", "Compute", "CTurboJPEG", "CPNG", "CFreeType", .product(name: "Yams", package: "Yams")]),
        // The training engine: step plan, micro-batch computer, reduction, BN statistics, observers,
        // checkpoints, the run folder, validation and prediction.
        .target(name: "Training", dependencies: ["Data", "Model", "ModelFiles", "Compute"], swiftSettings: unchecked),
        // Coordinator (a gradient source), worker, the wire protocol and the ZeroMQ transport.
        .target(name: "Cluster", dependencies: ["CZMQ", "Training", "Model", "Data", "Compute"]),
        // The operator's view of a run: Prometheus metrics and a live status page over HTTP.
        .target(name: "Monitor", dependencies: [
            "Training",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // Other tools' files: Keras MobileNet weights (.h5) in, ONNX out.
        .target(name: "Interop", dependencies: ["CHDF5", "Model", "ModelFiles", "Compute"]),
        // The `keypoints` command line: parses arguments and wires the layers together.
        .executableTarget(name: "KeypointsCLI", dependencies: [
            "Compute", "Model", "ModelFiles", "Data", "Training", "Cluster", "Interop", "Monitor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .target(name: "TestSupport", dependencies: ["Compute", "Model", "ModelFiles", "Data", "Training"], path: "Tests/TestSupport"),
        .testTarget(name: "ComputeTests", dependencies: ["Compute", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "ModelFiles", "Compute", "Data", "TestSupport"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Model", "ModelFiles", "Data", "Compute", "TestSupport"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Training", "Model", "Data", "TestSupport"]),
        .testTarget(name: "InteropTests", dependencies: ["Interop", "Model", "ModelFiles", "Compute", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "Cluster", "Data", "Model", "ModelFiles"]),
    ],
    swiftLanguageModes: [.v6]
)
