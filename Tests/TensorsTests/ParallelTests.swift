// The parallel loops behind every kernel (`CPU.parallelFor` / `parallelChunks` on the spinning
// worker pool, CKernels/pool.c): every index runs exactly once in its fixed chunk, for many counts
// and thread counts; a loop inside a chunk and loops from several threads at once (the pool busy)
// fall back without losing or repeating work; a thousand back-to-back small regions complete.

import Dispatch
import Synchronization
import Testing
@testable import Tensors

@Suite struct ParallelTests {
    /// Runs `count` items on `cpu` and returns how often each index ran and which chunk ran it.
    private func coverage(_ cpu: CPU, _ count: Int, grain: Int = 1) -> (hits: [Int], chunkOf: [Int]) {
        let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
        let chunkOf = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
        defer { hits.deallocate(); chunkOf.deallocate() }
        hits.initialize(repeating: 0)
        chunkOf.initialize(repeating: -1)
        cpu.parallelChunks(count, grain: grain) { chunk, range in
            for i in range { hits[i] += 1; chunkOf[i] = chunk }
        }
        return (Array(hits.prefix(count)), Array(chunkOf.prefix(count)))
    }

    @Test(arguments: [1, 2, 3, 8]) func everyIndexRunsOnceInItsChunk(threads: Int) {
        let cpu = CPU(threads: threads)
        for count in [0, 1, 2, 7, 64, 1000, 4097] {
            for grain in [1, 3, 100] {
                let (hits, chunkOf) = coverage(cpu, count, grain: grain)
                #expect(hits.allSatisfy { $0 == 1 }, "count \(count) grain \(grain) threads \(threads)")
                // Chunks are contiguous, in order, and as many as chunkCount says.
                let chunks = cpu.chunkCount(count, grain: grain)
                #expect(chunkOf == chunkOf.sorted() && Set(chunkOf).count == chunks, "chunks of count \(count) grain \(grain)")
                // The same split every run.
                #expect(coverage(cpu, count, grain: grain).chunkOf == chunkOf)
            }
        }
    }

    @Test func nestedLoopsRunEveryInnerIndex() {
        let cpu = CPU(threads: 4)
        let total = Atomic<Int>(0)
        cpu.parallelFor(8) { outer in
            for _ in outer {
                cpu.parallelFor(100) { inner in total.add(inner.count, ordering: .relaxed) }
            }
        }
        #expect(total.load(ordering: .relaxed) == 800)
    }

    /// Several threads issue regions at once (the pool serves one, the others fall back), each
    /// region summing its indices; every sum must be exact.
    @Test func concurrentCallersLoseNothing() {
        let callers = 4, rounds = 300
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            let cpu = CPU(threads: 2)
            for round in 0..<rounds {
                let count = 1 + (round * 37 + caller * 11) % 500
                let sum = Atomic<Int>(0)
                cpu.parallelFor(count) { range in
                    var s = 0
                    for i in range { s += i }
                    sum.add(s, ordering: .relaxed)
                }
                if sum.load(ordering: .relaxed) != count * (count - 1) / 2 { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }

    /// Many tiny back-to-back regions (a batch-1 forward issues hundreds) all complete and add up.
    @Test func manySmallRegionsComplete() {
        let cpu = CPU(threads: 2)
        let total = Atomic<Int>(0)
        for _ in 0..<2000 { cpu.parallelFor(2) { range in total.add(range.count, ordering: .relaxed) } }
        #expect(total.load(ordering: .relaxed) == 4000)
    }
}
