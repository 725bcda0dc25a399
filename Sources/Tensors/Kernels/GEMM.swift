// GEMM: row-major float32 matrix products through our own kernel (`dn_sgemm`, CKernels/gemm.c),
// plus matmul / batched matmul / linear on tensors. Each result element is one fused
// multiply-add chain over k, so its bits do not depend on the product's size, the element's
// position or the thread split: a sample's outputs are the same alone or in any batch, on any
// thread count (OpenBLAS, 5–10% faster on large products, changes rounding with tile position;
// it stays the baseline of `denoise bench --kernels` and the reference in tests). `sgemm` splits
// a large product into column (or row) panels over the threads of the last-created ``CPU``, one
// single-threaded kernel call per panel. Inside a parallel loop, call `sgemm(..., threads: 1)`.

import CKernels
import Synchronization

/// Threads `sgemm` uses by default; set by ``CPU/init(threads:)``.
let gemmThreads = Atomic<Int>(1)

/// Raw row-major SGEMM: C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C.
/// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored (before transposition).
/// `threads` nil uses the CPU's thread count; products under ~0.5 MFLOP run on one thread.
public func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int? = nil) {
    if m == 0 || n == 0 { return }
    let t = min(threads ?? gemmThreads.load(ordering: .relaxed), max(1, m * n * k / 250_000))
    if t > 1 && k > 0 && (n >= 32 * t || m >= 32 * t) {
        // Split the larger of N and M into t panels (multiples of 16), one kernel call each.
        let splitN = n >= m || m < 32 * t
        let extent = splitN ? n : m
        let panel = ((extent + t - 1) / t + 15) / 16 * 16
        let chunks = (extent + panel - 1) / panel
        runParallel(chunks) { i in
            let start = i * panel, len = min(panel, extent - start)
            if splitN {
                let bp = transposeB ? b + start * ldb : b + start
                sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: len, k: k, alpha: alpha,
                      a: a, lda: lda, b: bp, ldb: ldb, beta: beta, c: c + start, ldc: ldc, threads: 1)
            } else {
                let ap = transposeA ? a + start : a + start * lda
                sgemm(transposeA: transposeA, transposeB: transposeB, m: len, n: n, k: k, alpha: alpha,
                      a: ap, lda: lda, b: b, ldb: ldb, beta: beta, c: c + start * ldc, ldc: ldc, threads: 1)
            }
        }
        return
    }
    if k == 0 {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        else if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
        return
    }
    dn_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

/// Makes `sgemm` use micro-kernel level `level` (0 portable, 1 AVX2, 2 AVX-512), capped at what
/// the CPU supports; returns the level in use. Every level gives the same bits (for tests).
@discardableResult func selectGEMMKernel(_ level: Int) -> Int { Int(dn_sgemm_select(Int32(level))) }

extension CPU {
    /// Matrix product with batch broadcasting.
    /// - Parameters:
    ///   - a: `[..., M, K]` (or `[..., K, M]` when `transposeA`)
    ///   - b: `[..., K, N]` (or `[..., N, K]` when `transposeB`)
    ///   - out: `[..., M, N]`, or nil to allocate; must not overlap `a` or `b`
    /// - Returns: `[..., M, N]`; batch axes broadcast as in numpy (each batch axis equal or 1).
    public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                       into out: Tensor? = nil) throws -> Tensor {
        let op = "matmul"
        guard a.rank >= 2, b.rank >= 2 else {
            throw TensorError.invalidArgument(op: op, "operands need at least 2 axes, got \(a.shape) and \(b.shape)")
        }
        let m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
        let ka = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
        let kb = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
        let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        guard ka == kb else { throw TensorError.shapeMismatch(op: op, a.shape, b.shape, detail: "inner dimensions \(ka) and \(kb)") }
        let aBatch = Shape(a.shape.prefix(a.rank - 2)), bBatch = Shape(b.shape.prefix(b.rank - 2))
        let batch = try broadcastShapes(aBatch, bBatch, op: op)
        var outShape = batch
        outShape.append(m)
        outShape.append(n)
        let out = try Tensor.output(out, shape: outShape, op: op)  // sgemm with beta 0 writes every element
        let count = batch.elementCount
        let aIndex = BroadcastIndex(from: aBatch, to: batch), bIndex = BroadcastIndex(from: bBatch, to: batch)
        // Many products: whole products per thread; few: each product split over the threads.
        let perThread = count >= threads
        let work = UncheckedSendable((a.pointer, b.pointer, out.pointer))
        let run = { (products: Range<Int>) in
            let (pa, pb, po) = work.value
            for i in products {
                sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: ka,
                      a: pa + aIndex.sourceOffset(i) * m * ka, lda: transposeA ? m : ka,
                      b: pb + bIndex.sourceOffset(i) * ka * n, ldb: transposeB ? ka : n,
                      c: po + i * m * n, ldc: n, threads: perThread ? 1 : nil)
            }
        }
        if perThread { parallelFor(count, run) } else { run(0..<count) }
        withExtendedLifetime((a, b, out)) {}
        return out
    }

    /// Fully connected layer as in PyTorch's `nn.Linear`.
    /// - Parameters:
    ///   - x: `[..., in]`
    ///   - weight: `[out, in]`
    ///   - bias: `[out]` or nil
    ///   - out: `[..., out]`, or nil to allocate; must not overlap `x`, `weight` or `bias`
    /// - Returns: `[..., out]` = x · weightᵀ + bias
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, into out: Tensor? = nil) throws -> Tensor {
        let op = "linear"
        guard x.rank >= 1, weight.rank == 2, x.shape[x.rank - 1] == weight.shape[1] else {
            throw TensorError.shapeMismatch(op: op, x.shape, weight.shape, detail: "expected x [..., in] and weight [out, in]")
        }
        let inF = weight.shape[1], outF = weight.shape[0], rows = x.shape.product(0..<(x.rank - 1))
        if let bias, bias.shape != [outF] {
            throw TensorError.shapeMismatch(op: op, weight.shape, bias.shape, detail: "bias must be [out]")
        }
        let out = try Tensor.output(out, shape: x.shape.replacing(axis: x.rank - 1, with: outF), op: op)
        if let bias {
            for r in 0..<rows { (out.pointer + r * outF).update(from: bias.pointer, count: outF) }
        }
        sgemm(transposeA: false, transposeB: true, m: rows, n: outF, k: inF, a: x.pointer, lda: inF,
              b: weight.pointer, ldb: inF, beta: bias == nil ? 0 : 1, c: out.pointer, ldc: outF)
        withExtendedLifetime((x, weight, bias, out)) {}
        return out
    }
}
