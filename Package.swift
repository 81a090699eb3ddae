// swift-tools-version: 6.1
import PackageDescription
import Foundation

// The kernels decide the speed of everything: without a target CPU, Swift lowers
// SIMD16<Float> to scalar fma() calls (0.8 GFLOP/s instead of ~90). Release builds
// of GPTKernels therefore target the build machine (`-march=native`) and drop bounds
// checks inside the kernels only. Set SWIFT_GPT_PORTABLE=1 to build for any x86-64-v3
// (AVX2 + FMA) machine instead.
let portable = ProcessInfo.processInfo.environment["SWIFT_GPT_PORTABLE"] != nil
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-Xcc", portable ? "-march=x86-64-v3" : "-march=native"],
                 .when(configuration: .release)),
]

let package = Package(
    name: "swift-gpt",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gpt", targets: ["gpt"]),
        .library(name: "GPTCore", targets: ["GPTCore"]),
        .library(name: "GPTTokenizer", targets: ["GPTTokenizer"]),
        .library(name: "GPTData", targets: ["GPTData"]),
        .library(name: "GPTTraining", targets: ["GPTTraining"]),
        .library(name: "GPTGeneration", targets: ["GPTGeneration"]),
    ],
    // `--traits MPI` builds data-parallel training on Open MPI (`mpirun -np N gpt train`); the default
    // build needs no MPI.
    traits: [.trait(name: "MPI", description: "Data-parallel training across processes on MPI (libopenmpi-dev)")],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        .target(name: "GPTKernels", swiftSettings: kernelFlags),
        .target(name: "GPTIO"),
        .target(name: "GPTCore", dependencies: ["GPTKernels", "GPTIO"]),
        .target(name: "GPTConcurrency"),
        .target(name: "GPTNetwork"),
        .target(name: "GPTTokenizer", dependencies: ["GPTIO", "GPTConcurrency", "GPTNetwork"]),
        .target(name: "GPTData", dependencies: ["GPTTokenizer", "GPTIO", "GPTKernels", "GPTNetwork", "GPTConcurrency"]),
        // Open MPI's C API as a module (pkg-config ompi-c); only the MPI trait imports it.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // The Communicator that training talks to: one process, or MPI ranks under the trait.
        .target(name: "GPTDistributed", dependencies: [.target(name: "CMPI", condition: .when(traits: ["MPI"]))]),
        .target(name: "GPTTraining", dependencies: ["GPTCore", "GPTKernels", "GPTData", "GPTTokenizer", "GPTIO", "GPTGeneration",
                                                   "GPTNetwork", "GPTDistributed"]),
        .target(name: "GPTGeneration", dependencies: ["GPTCore", "GPTKernels", "GPTTokenizer"]),
        // The HTTP server: the only target that imports Hummingbird (the core never does).
        .target(name: "GPTServer", dependencies: [
            "GPTCore", "GPTGeneration", "GPTTokenizer", "GPTTraining",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "gpt", dependencies: [
            "GPTCore", "GPTIO", "GPTKernels", "GPTTokenizer", "GPTData", "GPTTraining", "GPTGeneration", "GPTServer",
            "GPTDistributed",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "TOMLKit", package: "TOMLKit"),
        ], swiftSettings: [
            // The command tests read the commands' help text, which `swift test -c release` reaches
            // only through @testable import. The target is a thin layer: no kernel is inside it.
            .unsafeFlags(["-enable-testing"], .when(configuration: .release)),
        ]),
        .testTarget(name: "GPTKernelsTests", dependencies: ["GPTKernels"]),
        .testTarget(name: "GPTIOTests", dependencies: ["GPTIO", "GPTKernels", "GPTTestSupport"]),
        .testTarget(name: "GPTCoreTests", dependencies: ["GPTCore", "GPTIO", "GPTKernels", "GPTTestSupport"]),
        .target(name: "GPTTestSupport", dependencies: ["GPTTokenizer"], path: "Tests/GPTTestSupport"),
        .testTarget(name: "GPTTokenizerTests", dependencies: ["GPTTokenizer", "GPTTestSupport"]),
        .testTarget(name: "GPTDataTests", dependencies: ["GPTData", "GPTKernels", "GPTTokenizer", "GPTTestSupport"]),
        .testTarget(name: "GPTTrainingTests", dependencies: ["GPTTraining", "GPTGeneration", "GPTCore", "GPTData", "GPTKernels", "GPTTokenizer",
                                                            "GPTDistributed"]),
        .testTarget(name: "GPTGenerationTests", dependencies: ["GPTGeneration", "GPTCore", "GPTKernels"]),
        .testTarget(name: "GPTCommandTests", dependencies: ["gpt", "GPTTestSupport"]),
        .testTarget(name: "GPTNetworkTests", dependencies: [
            "GPTNetwork", "GPTTraining", "GPTCore", "GPTData", "GPTKernels", "GPTTokenizer", "GPTTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "GPTServerTests", dependencies: [
            "GPTServer", "GPTGeneration", "GPTCore", "GPTKernels", "GPTTokenizer", "GPTTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
