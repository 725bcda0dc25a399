// denoise bench: speed measurements. `--kernels` runs the kernel table (Sources/Tensors/Bench)
// and prints it, or JSON for `benchmarks/kernels.py`, which sets PyTorch beside it.

import ArgumentParser
import Benchmarks
import Diffusion
import Foundation
import Graphs
import ModelIO
import Tensors

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure kernel and model speed (GFLOP/s).")

    @Argument(help: "A model (ONNX file, native or diffusers folder) to time whole forwards of.")
    var model: String?

    @Flag(help: "Benchmark the tensor kernels (conv2d, GEMM, GroupNorm+SiLU).")
    var kernels = false

    @Option(help: "Batch sizes to time the model at, comma-separated.")
    var batch = "1,4,16"

    @Option(help: "Threads for our kernels, or a comma-separated list to measure the scaling (default: all cores).")
    var threads: String?

    @Flag(help: "Print the results as JSON (for benchmarks/kernels.py).")
    var json = false

    @Flag(help: "Compile the model without Winograd convolutions (for comparison).")
    var noWinograd = false

    @Flag(help: "With a MODEL: time every step of the compiled plan and print milliseconds per op kind.")
    var profile = false

    @Option(help: "With --profile: how many of the slowest steps to list.")
    var top = 20

    @Option(help: "Minimum measured time per entry, in seconds (after one warm-up call).")
    var minSeconds = 0.4

    func validate() throws {
        _ = try threadCounts()
        if !(minSeconds >= 0 && minSeconds <= 600) { throw ValidationError("--min-seconds must be between 0 and 600, got \(minSeconds)") }
        if !kernels && model == nil { throw ValidationError("nothing to measure: pass a MODEL or --kernels") }
        if kernels && model != nil { throw ValidationError("pass either a MODEL or --kernels, not both") }
        if profile && (kernels || json) { throw ValidationError("--profile times a MODEL's steps as text: not with --kernels or --json") }
        if top < 0 { throw ValidationError("--top must be at least 0, got \(top)") }
        _ = try batches()
    }

    /// The --threads list (nil: all cores).
    func threadCounts() throws -> [Int?] {
        guard let threads else { return [nil] }
        let list = threads.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !list.isEmpty, list.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 1024 }) else {
            throw ValidationError("--threads must be a thread count 1…1024 or a comma-separated list of them, got '\(threads)'")
        }
        return list
    }

    /// The --batch list.
    func batches() throws -> [Int] {
        let list = batch.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !list.isEmpty, list.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 4096 }) else {
            throw ValidationError("--batch must be a comma-separated list of sizes 1…4096, got '\(batch)'")
        }
        return list.map { $0! }
    }

    func run() throws {
        if let model { return try runModel(model, threadCounts: try threadCounts()) }
        let cpu = CPU(threads: try threadCounts()[0])
        let coretype = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset"
        let header = "threads \(cpu.threads), ISA \(CPU.vectorISA), GEMM \(CPU.gemmKernel), OPENBLAS_CORETYPE=\(coretype), \(CPU.blasDescription)"
        var bench = KernelBenchmark(cpu: cpu)
        bench.minimumSeconds = minSeconds
        if json {
            let results = try bench.run()
            let report = KernelReport(threads: cpu.threads, isa: CPU.vectorISA, openblasCoretype: coretype,
                                      openblas: CPU.blasDescription, results: results)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        say(header)
        say(pad("kernel", 28) + pad("shape", 26) + pad("ms", 10, right: true) + pad("rate", 18, right: true))
        _ = try bench.run { m in
            let line = pad(m.kernel, 28) + pad(m.shape, 26) + pad(String(format: "%.3f", m.milliseconds), 10, right: true)
                + pad(String(format: "%.1f %@", m.rate, m.unit), 18, right: true)
            say(line)
        }
    }

    private func runModel(_ path: String, threadCounts: [Int?]) throws {
        let model = try ModelLoader.open(path)
        var results: [ModelMeasurement] = []
        let coretype = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset"
        if !json {
            say("\(path): ISA \(CPU.vectorISA), GEMM \(CPU.gemmKernel), OPENBLAS_CORETYPE=\(coretype)")
            if !profile { say("threads  batch    ms/forward     GFLOP/s") }
        }
        for count in threadCounts {
            let cpu = CPU(threads: count)
            var bench = ModelBenchmark(graph: model.graph, cpu: cpu)
            bench.minimumSeconds = max(minSeconds, 0.01) * 5
            bench.options = BatchStepper.planOptions(for: model)  // the plan generate and serve compile
            bench.options.winograd = !noWinograd
            for b in try batches() {
                let shapes = try BatchStepper.inputShapes(of: model, batch: b)
                if profile {
                    let (ops, steps, total) = try bench.profile(batch: b, shapes: shapes)
                    say(String(format: "threads %d, batch %d: %.3f ms in steps per forward", cpu.threads, b, total))
                    say("op                      nodes        ms      share")
                    for e in ops {
                        say(pad(e.op, 22) + String(format: "%7d  %8.3f  %8.1f%%", e.count, e.ms, 100 * e.ms / max(total, 1e-12)))
                    }
                    say("slowest steps (op, first two input shapes, ms, GFLOP/s):")
                    for e in steps.prefix(top) { say("  " + pad(e.op, 22) + pad(e.shapes, 40) + String(format: "%8.3f %8.1f", e.ms, e.gflops)) }
                    continue
                }
                let m = try bench.measure(batch: b, shapes: shapes)
                results.append(m)
                if !json { say(String(format: "%7d  %5d  %12.2f  %10.1f", m.threads, m.batch, m.msMedian, m.gflops)) }
            }
        }
        if json { print(String(decoding: try JSONEncoder().encode(results), as: UTF8.self)) }
    }

    /// Writes a line at once (unbuffered), so rows appear as they finish.
    private func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    private func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return right ? fill + s : s + fill
    }
}

/// The JSON document of `denoise bench --kernels --json`.
struct KernelReport: Codable {
    let threads: Int
    let isa: String
    let openblasCoretype: String
    let openblas: String
    let results: [KernelMeasurement]
}
