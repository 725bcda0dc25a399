// CPU: the compute context every kernel runs on. It owns the cores: a fixed thread count for
// our parallel loops (the worker pool in CPool/pool.c), which also split large GEMMs into
// panels of our own kernel. OpenBLAS — linked only as the baseline of `denoise bench --kernels`
// and a reference in tests — is set to one thread (its worker threads spin-wait after each call
// and would fight ours for the cores; measured: a 1M-element ReLU went from 0.13 ms to 14 ms). Work is split into static,
// contiguous chunks, so for a given thread count results are bit-identical run to run.
// Not a scheduler for requests: the server and trainer decide what runs; this runs it.

import CBLAS
import Dispatch
import CKernels
import CPool

/// The compute context: thread count for our loops and for OpenBLAS.
public final class CPU: Sendable {
    /// Number of threads used by parallel loops and GEMM.
    public let threads: Int

    /// Creates a context with `threads` threads (default: every core). GEMM's panel split is
    /// process-wide, like OpenBLAS's own thread setting: the last context created sets it.
    public init(threads: Int? = nil) {
        let n = max(1, threads ?? CPU.coreCount)
        self.threads = n
        openblas_set_num_threads(1)
        gemmThreads.store(n, ordering: .relaxed)
        CPU.keepFreedMemory
    }

    /// Large tensors are allocated and freed every op on the autograd path. glibc returns blocks
    /// over 128 KiB to the kernel on free, so every new tensor page-faults in afresh (measured:
    /// +0.15 ms on a 4 MiB SiLU, half its time). Keep freed memory in the heap instead.
    private static let keepFreedMemory: Void = {
        dn_keep_freed_memory()
        openblas_set_num_threads(1)
        _ = blas_thread_shutdown_()  // its idle workers spin-wait; we never use them
    }()

    /// The vector ISA our C kernels run with on this CPU.
    public static var vectorISA: String { String(cString: dn_isa()) }

    /// The GEMM micro-kernel that runs on this CPU (e.g. `avx512 6x32`; see CKernels/gemm.c).
    public static var gemmKernel: String { String(cString: dn_sgemm_kernel()) }

    /// Cores this process may use.
    public static var coreCount: Int { max(1, Int(openblas_get_num_procs())) }

    /// OpenBLAS's build description (`OpenBLAS 0.3.21 ... Haswell ...`) and the core kernel chosen.
    public static var blasDescription: String {
        let config = String(cString: openblas_get_config())
        let core = String(cString: openblas_get_corename())
        return "\(config); core \(core)"
    }

    /// Runs `body` over `0..<count` split into at most `threads` contiguous chunks of at least
    /// `grain` items. Chunk boundaries depend only on `count`, `grain` and `threads`.
    /// The body may capture raw pointers: each chunk must write only elements it owns.
    public func parallelFor(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        parallelChunks(count, grain: grain) { _, range in body(range) }
    }

    /// Number of chunks ``parallelChunks(_:grain:_:)`` splits `count` items into.
    public func chunkCount(_ count: Int, grain: Int = 1) -> Int {
        count <= 0 ? 0 : min(threads, max(1, count / max(grain, 1)))
    }

    /// ``parallelFor(_:grain:_:)`` that also passes each chunk's index in `0..<chunkCount(count, grain:)`,
    /// for per-chunk partial results that the caller then combines in chunk order.
    public func parallelChunks(_ count: Int, grain: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        let chunks = chunkCount(count, grain: grain)
        if chunks == 0 { return }
        if chunks == 1 { body(0, 0..<count); return }
        let base = count / chunks, extra = count % chunks
        runParallel(chunks) { c in
            let start = c * base + min(c, extra)
            body(c, start..<(start + base + (c < extra ? 1 : 0)))
        }
    }
}

/// A parallel job as the C pool sees it: the body behind one pointer.
private struct ParallelJob {
    let body: (Int) -> Void
}

/// Runs `body(i)` for every i in `0..<chunks` at once and returns when all are done: on the
/// process's spinning worker pool (`dn_parallel`, CPool/pool.c), or through Dispatch when the
/// pool is busy (another thread's job, or `body` itself runs inside a chunk). Which thread runs a
/// chunk never matters: each chunk's work is fixed by its index.
func runParallel(_ chunks: Int, _ body: (Int) -> Void) {
    if chunks <= 0 { return }
    if chunks == 1 { body(0); return }
    withoutActuallyEscaping(body) { escapable in
        var job = ParallelJob(body: escapable)
        let ran = withUnsafeMutablePointer(to: &job) { pointer in
            dn_parallel(chunks, { context, chunk in
                context!.assumingMemoryBound(to: ParallelJob.self).pointee.body(chunk)
            }, pointer)
        }
        if ran == 0 {
            let work = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: chunks) { work.value($0) }
        }
    }
}

/// Wraps a value that is shared across threads under a discipline the compiler cannot check
/// (parallel loop bodies writing disjoint ranges).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
