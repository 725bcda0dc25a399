// KernelBenchmark: the table behind `denoise bench --kernels`. Times conv2d 3x3 (stride 1,
// padding 1) forward and forward+backward on the U-Net's typical shapes, the plain GEMM of the
// same FLOP count (the ceiling a lowered convolution is measured against) in our own GEMM and in
// OpenBLAS (split over the threads the same way), and GroupNorm+SiLU in GB/s. Each entry reports the median of repeated runs after a warm-up. The same shapes are
// run through PyTorch by `benchmarks/kernels.py`, which reads our `--json` output.
// Measures only: nothing here is asserted in tests.

import CBLAS
import Dispatch
import Tensors

/// One measured kernel: median time and the rate it implies.
public struct KernelMeasurement: Sendable, Codable {
    /// What ran, e.g. `conv2d 3x3 fwd`.
    public let kernel: String
    /// Operand shapes in words, e.g. `N=16 C=64 32x32`.
    public let shape: String
    public let milliseconds: Double
    /// GFLOP/s for compute kernels, GB/s for memory-bound ones (see `unit`).
    public let rate: Double
    public let unit: String
}

/// Runs the kernel benchmark table on one ``CPU``.
public struct KernelBenchmark {
    public let cpu: CPU
    /// Minimum measured time per entry, in seconds (after one warm-up call).
    public var minimumSeconds = 0.4

    public init(cpu: CPU) { self.cpu = cpu }

    /// The conv shapes of the table: channels and spatial size (batch is 1 and 16 for each).
    public static let convShapes: [(channels: Int, size: Int)] = [(64, 32), (256, 8)]
    public static let batches = [1, 16]

    /// Measures every entry; `progress` is called with each result as it completes.
    public func run(progress: (KernelMeasurement) -> Void = { _ in }) throws -> [KernelMeasurement] {
        var results: [KernelMeasurement] = []
        func add(_ m: KernelMeasurement) { results.append(m); progress(m) }
        for (c, s) in Self.convShapes {
            for n in Self.batches {
                let shape = "N=\(n) C=\(c) \(s)x\(s)"
                let x = Self.filled([n, c, s, s], seed: 1), w = Self.filled([c, c, 3, 3], seed: 2), b = Self.filled([c], seed: 3)
                let o = Conv2dOptions(padding: 1)
                let flops = 2.0 * Double(n * c * s * s) * Double(c * 9)
                let fwd = try time { _ = try cpu.conv2d(x, weight: w, bias: b, o) }
                add(KernelMeasurement(kernel: "conv2d 3x3 fwd", shape: shape, milliseconds: fwd * 1e3, rate: flops / fwd / 1e9, unit: "GFLOP/s"))
                let g = Self.filled([n, c, s, s], seed: 4)
                let both = try time {
                    _ = try cpu.conv2d(x, weight: w, bias: b, o)
                    _ = try cpu.conv2dBackward(x, weight: w, grad: g, hasBias: true, o)
                }
                add(KernelMeasurement(kernel: "conv2d 3x3 fwd+bwd", shape: shape, milliseconds: both * 1e3,
                                      rate: 3 * flops / both / 1e9, unit: "GFLOP/s"))
                // The plain product a lowered conv performs: [M, K] · [K, N·OH·OW].
                let (gm, gk, gn) = (c, c * 9, n * s * s)
                let a = Self.filled([gm, gk], seed: 5), bm = Self.filled([gk, gn], seed: 6), out = Tensor(uninitialized: [gm, gn])
                let gemm = try time {
                    sgemm(transposeA: false, transposeB: false, m: gm, n: gn, k: gk, a: a.pointer, lda: gk,
                          b: bm.pointer, ldb: gn, c: out.pointer, ldc: gn)
                }
                add(KernelMeasurement(kernel: "gemm (same FLOPs)", shape: "M=\(gm) K=\(gk) N=\(gn)", milliseconds: gemm * 1e3,
                                      rate: flops / gemm / 1e9, unit: "GFLOP/s"))
                let blas = try time { openBLASProduct(m: gm, n: gn, k: gk, a: a.pointer, b: bm.pointer, c: out.pointer) }
                add(KernelMeasurement(kernel: "openblas gemm (same FLOPs)", shape: "M=\(gm) K=\(gk) N=\(gn)", milliseconds: blas * 1e3,
                                      rate: flops / blas / 1e9, unit: "GFLOP/s"))
                withExtendedLifetime((a, bm, out)) {}
            }
        }
        for (n, c, s) in [(1, 128, 32), (16, 128, 32)] {
            let x = Self.filled([n, c, s, s], seed: 7), w = Self.filled([c], seed: 8), b = Self.filled([c], seed: 9)
            let seconds = try time { _ = try cpu.groupNormSiLU(x, groups: 32, weight: w, bias: b) }
            let bytes = 2.0 * Double(x.count) * 4  // one read of x, one write of y
            add(KernelMeasurement(kernel: "groupnorm+silu", shape: "N=\(n) C=\(c) \(s)x\(s) G=32", milliseconds: seconds * 1e3,
                                  rate: bytes / seconds / 1e9, unit: "GB/s"))
        }
        return results
    }

    /// OpenBLAS's single-threaded sgemm over column panels, one per thread, as `sgemm` splits
    /// ours: the baseline our GEMM is measured against.
    func openBLASProduct(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        let t = cpu.threads, panel = ((n + t - 1) / t + 15) / 16 * 16
        let (ia, ib, ic) = (Int(bitPattern: a), Int(bitPattern: b), Int(bitPattern: c))  // addresses cross into the workers
        DispatchQueue.concurrentPerform(iterations: (n + panel - 1) / panel) { i in
            let a = UnsafePointer<Float>(bitPattern: ia)!, b = UnsafePointer<Float>(bitPattern: ib)!
            let c = UnsafeMutablePointer<Float>(bitPattern: ic)!
            let start = i * panel, len = min(panel, n - start)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(len), Int32(k), 1, a, Int32(k),
                        b + start, Int32(n), 0, c + start, Int32(n))
        }
    }

    /// Median seconds per call of `body`, over at least `minimumSeconds` and 5 calls, after one warm-up.
    func time(_ body: () throws -> Void) throws -> Double {
        try body()
        let clock = ContinuousClock()
        var samples: [Double] = []
        let start = clock.now
        while samples.count < 5 || (clock.now - start) < .milliseconds(Int(minimumSeconds * 1000)) {
            let t0 = clock.now
            try body()
            let d = clock.now - t0
            samples.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        samples.sort()
        return samples[samples.count / 2]
    }

    /// A tensor of small deterministic values in [-1, 1).
    static func filled(_ shape: Shape, seed: UInt64) -> Tensor {
        let t = Tensor(uninitialized: shape)
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        for i in 0..<t.count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            t.pointer[i] = Float(Int32(truncatingIfNeeded: state >> 32)) / Float(Int32.max)
        }
        return t
    }
}
