// swift-tools-version:6.0
// The keypoints package: a MobileNet keypoint trainer on oneDNN, with one target per job
// (C shims -> Compute -> Model -> Data -> CLI); see README.md and ../shared/DESIGN.md.
import PackageDescription

let package = Package(
    name: "keypoints",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "keypoints", targets: ["KeypointsCLI"]),
        .library(name: "KeypointsModel", targets: ["Model"]),
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

        // Tensors and oneDNN primitives, forward and backward. Knows nothing of keypoints.
        .target(name: "Compute", dependencies: ["CDNNL"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        // MobileNetV1, keypoint head, losses, optimizers, schedules, saved models, training loop.
        .target(name: "Model", dependencies: ["Compute"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        // Datasets: label formats, image codecs, augmentation, batching, the synthetic set.
        .target(name: "Data", dependencies: ["Compute", "CTurboJPEG", "CPNG"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        // Coordinator, workers, the wire protocol and the ZeroMQ transport.
        .target(name: "Cluster", dependencies: ["CZMQ", "Model", "Data", "Compute"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        // Other tools' files: Keras MobileNet weights (.h5) in, ONNX out.
        .target(name: "Interop", dependencies: ["CHDF5", "Model", "Compute"]),
        // The `keypoints` command line: parses arguments and wires the layers together.
        .executableTarget(name: "KeypointsCLI", dependencies: [
            "Compute", "Model", "Data", "Cluster", "Interop",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .target(name: "TestSupport", dependencies: ["Compute"], path: "Tests/TestSupport"),
        .testTarget(name: "ComputeTests", dependencies: ["Compute", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Compute", "Data", "TestSupport"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "TestSupport"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Model", "Data", "TestSupport"]),
        .testTarget(name: "InteropTests", dependencies: ["Interop", "Model", "Compute", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "Cluster", "Data", "Model"]),
    ],
    swiftLanguageModes: [.v6]
)
