// The process's worker threads for parallel loops: one pool, grown on demand, whose workers spin
// for a short while after each job before they sleep on a futex. A forward pass issues a few
// hundred small parallel regions back to back; waking a sleeping thread for each costs 5–20 µs
// (futex wake + schedule), which at batch 1 was more than the work. Spinning workers pick up the
// next region within a fraction of a microsecond.
// A job is `chunks` calls fn(ctx, i), i in 0..<chunks, claimed dynamically by the caller and the
// workers (which thread runs which chunk never changes a result: callers give each chunk its own
// fixed range). One job at a time: a caller that finds the pool busy (another thread's job, or a
// chunk that itself goes parallel) gets 0 back and runs its job some other way.
// Not a task scheduler: no queues, no priorities, no work stealing across jobs.
#include "CPool.h"
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define relax() _mm_pause()
#else
#define relax() ((void)0)
#endif

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
/// Sleeps while *word == value (or until woken); wakes every sleeper on word.
static void sleep_while(_Atomic uint32_t *word, uint32_t value) { syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0); }
static void wake_all(_Atomic uint32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0); }
#else
// Elsewhere (no futex): idle workers poll every 50 µs.
static void sleep_while(_Atomic uint32_t *word, uint32_t value) {
    struct timespec pause = {0, 50000};
    if (atomic_load(word) == value) nanosleep(&pause, NULL);
}
static void wake_all(_Atomic uint32_t *word) { (void)word; }
#endif

enum { MAX_WORKERS = 255 };
/// How long an idle worker spins before it sleeps: long enough to bridge the host work between
/// two ops or two denoising steps, short enough not to hold a core when nothing runs. Measured on
/// the default model at batch 1: 50–300 µs all do well; 2 ms was sometimes 1.7x slower (a spinning
/// worker competes with the thread doing the serial work between regions). DENOISE_SPIN_US sets it.
static double spin_seconds = 100e-6;

__attribute__((constructor)) static void read_spin_setting(void) {
    const char *text = getenv("DENOISE_SPIN_US");
    char *end;
    double us = text ? strtod(text, &end) : -1;
    if (text && end != text && *end == 0 && us >= 0 && us <= 1e6) spin_seconds = us * 1e-6;
}

/// The current job. `claim` packs (job number << 32 | next chunk); a claim is a compare-and-swap
/// on the whole word, so a worker late from an earlier job can never take a chunk of a later one.
static struct {
    pthread_mutex_t lock;           // held by the caller for the whole job
    _Atomic uint64_t claim;
    _Atomic uint32_t wake;          // futex word: bumped for every job
    _Atomic int sleepers;
    _Atomic long done;              // chunks finished in the current job
    _Atomic long chunks;
    dn_chunk_fn fn;
    void *ctx;
    int workers;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/// Claims and runs chunks of job `job` until none is left.
static void run_chunks(uint32_t job) {
    for (;;) {
        uint64_t word = atomic_load_explicit(&pool.claim, memory_order_acquire);
        if ((uint32_t)(word >> 32) != job || (long)(uint32_t)word >= atomic_load_explicit(&pool.chunks, memory_order_relaxed)) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &word, word + 1, memory_order_acq_rel, memory_order_relaxed)) continue;
        // The claim succeeded, so this job is unfinished and its descriptor is stable.
        pool.fn(pool.ctx, (long)(uint32_t)word);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
    }
}

static void *worker(void *unused) {
    (void)unused;
    uint32_t seen = atomic_load(&pool.wake);
    for (;;) {
        // Wait for the next job: spin, then sleep on the futex.
        double deadline = 0;
        for (unsigned spins = 0; atomic_load_explicit(&pool.wake, memory_order_acquire) == seen; spins++) {
            relax();
            if ((spins & 255) != 255) continue;
            if (deadline == 0) deadline = now_seconds() + spin_seconds;
            else if (now_seconds() > deadline) {
                atomic_fetch_add(&pool.sleepers, 1);
                if (atomic_load(&pool.wake) == seen) sleep_while(&pool.wake, seen);
                atomic_fetch_sub(&pool.sleepers, 1);
                deadline = 0;
            }
        }
        seen = atomic_load_explicit(&pool.wake, memory_order_acquire);
        run_chunks((uint32_t)(atomic_load_explicit(&pool.claim, memory_order_acquire) >> 32));
    }
    return NULL;
}

int dn_parallel(long chunks, dn_chunk_fn fn, void *ctx) {
    if (chunks <= 0) return 1;
    if (chunks == 1) { fn(ctx, 0); return 1; }
    if (pthread_mutex_trylock(&pool.lock) != 0) return 0;
    long wanted = chunks - 1 < MAX_WORKERS ? chunks - 1 : MAX_WORKERS;
    while (pool.workers < wanted) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attr, worker, NULL);
        pthread_attr_destroy(&attr);
        if (failed) break;
        pool.workers++;
    }
    if (pool.workers == 0) { pthread_mutex_unlock(&pool.lock); return 0; }
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store_explicit(&pool.chunks, chunks, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    uint32_t job = (uint32_t)(atomic_load_explicit(&pool.claim, memory_order_relaxed) >> 32) + 1;
    atomic_store_explicit(&pool.claim, (uint64_t)job << 32, memory_order_release);
    atomic_fetch_add(&pool.wake, 1);
    if (atomic_load(&pool.sleepers) > 0) wake_all(&pool.wake);
    run_chunks(job);
    // Wait for chunks still running on workers; yield now and then in case one lost its core.
    for (unsigned spins = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < chunks; spins++) {
        relax();
        if ((spins & 4095) == 0) sched_yield();
    }
    pthread_mutex_unlock(&pool.lock);
    return 1;
}
