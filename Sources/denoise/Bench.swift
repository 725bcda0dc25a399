// denoise bench: speed measurements. `--kernels` runs the kernel table (Sources/Tensors/Bench).

import ArgumentParser
import Tensors

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure kernel and model speed (GFLOP/s).")

    @Flag(help: "Benchmark the tensor kernels (conv2d, GEMM, GroupNorm+SiLU).")
    var kernels = false

    @Option(help: "Threads for our kernels and OpenBLAS (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if !kernels { throw ValidationError("nothing to measure: pass --kernels (model benchmarks come with the importer)") }
    }

    func run() throws {
        let cpu = CPU(threads: threads)
        print("kernel benchmark not implemented yet (cpu threads \(cpu.threads))")
    }
}
