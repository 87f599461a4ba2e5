/* sk_bench.h — the native benchmark harness behind `stresskit bench`.
 *
 * Every measurement runs entirely in C: a timed loop of many operations on fresh pthreads, so the
 * numbers are the allocator's and not an interpreter's. The same loops run against four
 * implementations, so the glue's overhead is measured against raw mimalloc on the same machine in
 * the same process:
 *   - SK_BENCH_CC        cc_alloc / cc_alloc_aligned / cc_free with statistics off,
 *   - SK_BENCH_CC_STATS  the same calls with statistics on (the harness switches them on for the
 *                        measurement and restores the previous state afterwards),
 *   - SK_BENCH_MIMALLOC  mi_malloc / mi_malloc_aligned / mi_free called directly,
 *   - SK_BENCH_SYSTEM    the process's malloc / posix_memalign / free (libc's unless something
 *                        was preloaded), looked up at run time: inside this library the names
 *                        malloc/free are mimalloc's (see sk_bench_system_allocator).
 * One call measures one sample; the caller interleaves implementations and repeats (the Python
 * driver does) so that drift on a shared machine hits every implementation alike.
 */
#ifndef SK_BENCH_H
#define SK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc_alloc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which allocator a measurement drives. */
typedef enum sk_bench_impl {
    SK_BENCH_CC = 0,       /* the glue, statistics off */
    SK_BENCH_CC_STATS = 1, /* the glue, statistics on */
    SK_BENCH_MIMALLOC = 2, /* raw mi_* */
    SK_BENCH_SYSTEM = 3    /* libc */
} sk_bench_impl_t;

/* What is timed. Latency ops report ns per operation, SK_BENCH_THROUGHPUT reports operations/s. */
typedef enum sk_bench_op {
    /* Time a loop of allocations of `size` bytes into an array; the frees that follow are not
     * timed. Repeated in batches until `ops` allocations were timed. */
    SK_BENCH_ALLOC = 0,
    /* The reverse: allocations untimed, then a timed loop freeing them. */
    SK_BENCH_FREE = 1,
    /* As SK_BENCH_ALLOC with `alignment` (cc_alloc_aligned, mi_malloc_aligned, posix_memalign). */
    SK_BENCH_ALIGNED_ALLOC = 2,
    /* Two threads: a producer allocates batches of `size`-byte blocks and hands them over; the
     * consumer frees them, and only the consumer's frees are timed. Producer and consumer run at
     * the same time (a ring of batches), as they do in a lock-free queue. `threads` must be 2. */
    SK_BENCH_CROSS_THREAD_FREE = 3,
    /* `threads` threads each replace blocks at random slots of their own 256-slot working set:
     * free the old block, allocate a new one of a random size in 16..79 bytes. One operation is
     * one such replacement (one free + one allocation), so operations/s equals allocations/s.
     * All threads start together from a barrier and run until a window of `duration_ms` closes
     * (a fixed window, not a fixed count: a late-starting thread cannot stretch the measurement
     * with a tail in which the others have stopped); the rate is all threads' operations over
     * the wall time from the first thread starting to the last one stopping. */
    SK_BENCH_THROUGHPUT = 4
} sk_bench_op_t;

/* One measurement. Zero-initialise, then set the fields. */
typedef struct sk_bench_spec {
    sk_bench_op_t op;
    sk_bench_impl_t impl;
    uint32_t threads;    /* SK_BENCH_THROUGHPUT: 1..1024; SK_BENCH_CROSS_THREAD_FREE: 2; else 1 */
    size_t size;         /* block size for the latency ops (ignored by SK_BENCH_THROUGHPUT) */
    size_t alignment;    /* SK_BENCH_ALIGNED_ALLOC: a power of two >= sizeof(void *) */
    uint64_t ops;        /* latency ops: operations timed, >= 1 (SK_BENCH_THROUGHPUT: unused) */
    uint32_t duration_ms; /* SK_BENCH_THROUGHPUT: the measurement window, 1..600000 */
    uint64_t warmup_ops; /* operations run the same way first, untimed (0 is allowed) */
    uint64_t seed;       /* random sizes and slots of SK_BENCH_THROUGHPUT */
} sk_bench_spec_t;

/* What one measurement saw. */
typedef struct sk_bench_result {
    uint64_t ops;        /* operations timed, all threads together */
    int64_t elapsed_ns;  /* time those operations took (see sk_bench_op_t for what is timed) */
    double ns_per_op;    /* elapsed_ns / ops */
    double ops_per_s;    /* ops / elapsed seconds */
    uint64_t failures;   /* allocations that returned NULL (0 on a healthy run) */
    int64_t max_inside;  /* most threads inside their timed loops at one instant: evidence the
                            threads of a multi-threaded measurement really ran at once */
} sk_bench_result_t;

/* Run one measurement described by *spec and write what it saw to *out.
 * Returns 0 on success; EINVAL for a bad spec (unknown op or impl, ops 0 or duration_ms 0, bad
 * thread count or alignment, size 0); ENOSYS for SK_BENCH_SYSTEM when the process's malloc cannot
 * be found, and for every spec on Windows, where the harness (POSIX threads, mmap, dlsym) is not
 * ported; ENOMEM when the harness's own memory cannot be mapped; the pthread error when a thread
 * cannot be started. *out is zeroed first and filled only on success.
 * Safe to call from any thread, but measurements are meant to run one at a time: two concurrent
 * calls disturb each other's timing, and the statistics switch of SK_BENCH_CC/SK_BENCH_CC_STATS is
 * process-wide. */
CC_API int sk_bench_run(const sk_bench_spec_t *spec, sk_bench_result_t *out);

/* The compiler that built the harness (and, with the same flags, the glue), e.g. "GCC 12.2.0". */
CC_API const char *sk_bench_compiler(void);

/* The file that provides the allocator SK_BENCH_SYSTEM measures (e.g. "/lib/x86_64-linux-gnu/
 * libc.so.6"), or "unresolved". Recorded with the results so "system" is never ambiguous. */
CC_API const char *sk_bench_system_allocator(void);

/* Whether the harness was compiled with optimisation on: numbers from an unoptimised build are
 * not worth comparing, so the driver records this next to them. */
CC_API bool sk_bench_optimized(void);

#ifdef __cplusplus
}
#endif

#endif /* SK_BENCH_H */
