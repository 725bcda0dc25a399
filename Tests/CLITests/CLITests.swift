// End-to-end tests of the real `denoise` binary: exit codes and messages, as a user sees them.

import Foundation
import Testing

/// Runs the built `denoise` executable (a sibling of the test bundle) and captures its output.
func runDenoise(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var binary = bundle.appendingPathComponent("denoise")
    if !FileManager.default.fileExists(atPath: binary.path) {
        binary = Bundle.main.bundleURL.appendingPathComponent("denoise")
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite struct CLITests {
    @Test func versionNamesEveryLinkedLibrary() throws {
        let r = try runDenoise(["version"])
        #expect(r.status == 0)
        for lib in ["OpenBLAS", "libpng: 1.6", "libmicrohttpd: 0.9", "libprotobuf-c: 1."] {
            #expect(r.stdout.contains(lib), "missing \(lib) in: \(r.stdout)")
        }
    }

    @Test func badFlagsFailWithAMessage() throws {
        let zero = try runDenoise(["bench", "--kernels", "--threads", "0"])
        #expect(zero.status != 0 && zero.stderr.contains("--threads"))
        let nothing = try runDenoise(["bench"])
        #expect(nothing.status != 0 && nothing.stderr.contains("--kernels"))
        let negative = try runDenoise(["bench", "--kernels", "--min-seconds", "-1"])
        #expect(negative.status != 0 && negative.stderr.contains("--min-seconds"))
        let unknown = try runDenoise(["frobnicate"])
        #expect(unknown.status != 0 && unknown.stderr.contains("frobnicate"))
    }

    /// The kernel table runs end to end and its JSON has every entry with a positive rate.
    @Test func kernelBenchmarkReportsEveryKernel() throws {
        let r = try runDenoise(["bench", "--kernels", "--json", "--threads", "2", "--min-seconds", "0"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let results = report?["results"] as? [[String: Any]] ?? []
        let kernels = Set(results.compactMap { $0["kernel"] as? String })
        #expect(kernels == ["conv2d 3x3 fwd", "conv2d 3x3 fwd+bwd", "gemm (same FLOPs)", "openblas gemm (same FLOPs)", "groupnorm+silu"])
        #expect(results.count == 18 && results.allSatisfy { ($0["rate"] as? Double ?? 0) > 0 })
        #expect(report?["threads"] as? Int == 2)
    }
}
