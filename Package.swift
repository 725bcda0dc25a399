// swift-tools-version:6.0
// denoise — CPU diffusion models in Swift. Module map: see ../shared/DESIGN.md and README.md.
import PackageDescription

let package = Package(
    name: "denoise",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "denoise", targets: ["denoise"]),
        .library(name: "Tensors", targets: ["Tensors"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C shims: each wraps one Debian library and is imported by exactly one Swift target.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Our own C: the inner loops that need AVX-512/AVX2, one clone per ISA picked at load time.
        // -O3 also in debug builds: the test suite runs these loops (unvectorized -O0 is ~20x slower);
        // no FMA contraction, so every ISA clone computes the same bits.
        // Not instrumented by ThreadSanitizer: the per-ISA clones' ifunc resolvers run before its
        // runtime starts (measured: `swift test --sanitize=thread` crashed at load in a resolver).
        // AddressSanitizer and libFuzzer's coverage need no such exception (scripts/fuzz.sh runs them).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off", "-fno-sanitize=thread"])]),
        // The worker pool behind parallelFor: plain C (no clones), so sanitizers see its synchronization.
        .target(name: "CPool", cSettings: [.unsafeFlags(["-O3"])]),
        // protoc-c's C code for proto/onnx.proto, committed; regenerate with scripts/gen_proto.sh.
        .target(name: "CONNX", dependencies: ["CProtobufC"]),

        // Libraries, low to high.
        .target(name: "Tensors", dependencies: ["CBLAS", "CKernels", "CPool"]),
        .target(name: "Imaging", dependencies: ["CPNG", "CZlib"]),
        .target(name: "Graphs", dependencies: ["Tensors"]),
        .target(name: "ModelIO", dependencies: ["Tensors", "Graphs", "CProtobufC", "CONNX"]),
        .target(name: "Diffusion", dependencies: ["Tensors", "Graphs", "ModelIO", "Imaging"]),
        .target(name: "DenoiseServer", dependencies: ["Tensors", "Graphs", "ModelIO", "Diffusion", "Imaging", "CMicroHTTPD"]),
        // The drivers behind `denoise bench`: time kernels and compiled plans; measure only.
        .target(name: "Benchmarks", dependencies: ["Tensors", "Graphs", "CBLAS"]),

        // The command-line front end: parsing and progress only.
        .executableTarget(name: "denoise", dependencies: [
            "Tensors", "Graphs", "ModelIO", "Diffusion", "Imaging", "DenoiseServer", "Benchmarks",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Fuzzing (scripts/fuzz.sh): one harness per untrusted input, calling the product's own entry
        // points; `denoise-fuzz` is libFuzzer's front end when built with -DFUZZING, else replays files.
        .target(name: "FuzzTargets", dependencies: ["Tensors", "ModelIO", "Imaging", "Diffusion", "DenoiseServer"]),
        .executableTarget(name: "denoise-fuzz", dependencies: ["FuzzTargets"]),

        // Helpers shared by the test targets (seeded test data, closeness, temporary folders).
        .target(name: "TestSupport", dependencies: ["Tensors"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "ModelIOTests", dependencies: ["TestSupport", "ModelIO", "Graphs", "Tensors"], resources: [.copy("Fixtures")]),
        .testTarget(name: "GraphTests", dependencies: ["TestSupport", "Graphs", "ModelIO", "Tensors"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DiffusionTests", dependencies: ["TestSupport", "Diffusion", "ModelIO", "Graphs", "Tensors"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ImagingTests", dependencies: ["TestSupport", "Imaging"]),
        .testTarget(name: "ServerTests", dependencies: ["TestSupport", "DenoiseServer", "Diffusion", "ModelIO", "Imaging", "Tensors"]),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "denoise", "ModelIO", "Graphs", "Tensors", "Imaging"]),
    ]
)
