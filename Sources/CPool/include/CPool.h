// CPool: the process's spinning worker pool behind `CPU.parallelFor` (pool.c). Its own C target,
// apart from CKernels' per-ISA clones: ThreadSanitizer builds instrument it (its atomics and futex
// waits are what order the chunks' memory), while CKernels is built without TSan because the
// clones' ifunc resolvers run before the sanitizer's runtime starts.
#ifndef CPOOL_H
#define CPOOL_H

/// One chunk of a parallel job: fn(ctx, chunk index).
typedef void (*dn_chunk_fn)(void *ctx, long chunk);
/// Runs fn(ctx, i) for every i in 0..<chunks on the process's spinning worker pool (the caller
/// runs chunks too) and returns 1 when all are done; returns 0 without running anything when the
/// pool is busy with another job (another thread's, or the caller is itself inside a chunk).
int dn_parallel(long chunks, dn_chunk_fn fn, void *ctx);

#endif
