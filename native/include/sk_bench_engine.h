/* sk_bench_engine.h — the engine against a minimal hand-written loop (issue 14, item 3).
 *
 * One shape, the simplest scenario stresskit ships: one producer thread allocates `size`-byte
 * blocks through the glue (cc_alloc, statistics off) and hands each to one consumer thread through
 * a bounded ring, which checks it and frees it (cc_free with the size). Two ways to run it:
 *   - SK_SPSC_LOOP    a minimal C loop: the producer writes the block's first word, pushes its
 *                     pointer into a single-producer single-consumer ring; the consumer checks the
 *                     first word and frees. The least a stress tool of this shape must do.
 *   - SK_SPSC_ENGINE  the same shape as a stresskit run: a produce and a consume role on one queue,
 *                     driven by two pthreads calling sk_role_step, with the checks of `checks_off`
 *                     (sk_check_off_t) turned off: 0 = every default check, SK_OFF_ALL = the loop's
 *                     checks (identity word written and verified, nothing else).
 * Both time the consumer, from its first measured block to its last free, so blocks/s of the two
 * are comparable and their ratio is the engine's cost. One call is one sample; interleave and
 * repeat from the caller (stresskit/bench/engine_row.py does).
 */
#ifndef SK_BENCH_ENGINE_H
#define SK_BENCH_ENGINE_H

#include <stdint.h>

#include "cc_alloc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sk_spsc_mode { SK_SPSC_LOOP = 0, SK_SPSC_ENGINE = 1 } sk_spsc_mode_t;

typedef struct sk_spsc_spec {
    uint32_t mode;            /* sk_spsc_mode_t */
    uint32_t checks_off;      /* engine: sk_check_off_t bits (0: the defaults) */
    uint32_t invariants;      /* engine: 1 = run sk_run_invariants before and after the drain,
                                 timed as part of the sample (as `stresskit run` does) */
    uint32_t latency_sample_every; /* engine: as a scenario's (64 by default); >= 1 */
    uint64_t blocks;          /* measured blocks, >= 1 */
    uint64_t warmup_blocks;   /* loop: handed over first, untimed; engine: the producer's warm-up */
    uint64_t size;            /* block size, 16..4096 */
    uint64_t capacity;        /* ring capacity: a power of two in [2, 2^24] */
    uint64_t budget_ns;       /* engine: work per sk_role_step call (20 ms in a scenario) */
    uint64_t seed;
} sk_spsc_spec_t;

typedef struct sk_spsc_result {
    uint64_t blocks;          /* blocks the consumer freed in the measured window */
    int64_t elapsed_ns;       /* the consumer's measured window (plus the invariant checks) */
    double blocks_per_s;
    double ns_per_block;
    uint64_t bad_blocks;      /* blocks that failed their check (0 on a healthy glue) */
    uint64_t empty_retries;   /* consumer pops that found the ring empty */
    uint64_t full_retries;    /* producer pushes that found it full */
    int64_t max_inside;       /* most of the two threads inside their loops at once (2: overlap) */
} sk_spsc_result_t;

/* Run one sample. Returns 0; EINVAL for a bad spec; ENOMEM; the pthread error when a thread cannot
 * be started; EIO when the engine refused the run or a block went missing. *out is zeroed first. */
CC_API int sk_bench_spsc(const sk_spsc_spec_t *spec, sk_spsc_result_t *out);

/* ---- the machine's hand-off latency ----
 *
 * What the engine row (and any producer -> consumer scenario) pays per line that crosses cores:
 * two threads pinned to the first two CPUs the caller may run on pass a counter back and forth
 * on one cache line, `round_trips` times per batch, `batches` batches (stresskit.bench.machine
 * narrows the caller's affinity first, so that these are two cores, not one core's SMT threads).
 * On a VM the host decides where those CPUs really are, and it can change its mind: on the 2-vCPU
 * machine of docs/performance.md the round trip was ~0.1 us in some hours and ~0.4 us in others,
 * and the engine row's loop moved 5-10x with it. Recording it next to a run's rates says which of
 * the two machines they were measured on. */
typedef struct sk_handoff_result {
    double round_trip_ns;     /* median over the batches of (batch time / round_trips) */
    double min_round_trip_ns;
    double max_round_trip_ns;
    int32_t cpu_a, cpu_b;     /* the two CPUs the threads were pinned to (-1: not measured) */
} sk_handoff_result_t;

/* Measure it. The caller's affinity is restored afterwards. Returns 0; EINVAL for round_trips
 * outside 1..1000000 or batches outside 1..101; ENOTSUP when fewer than two CPUs are usable or a
 * thread cannot be pinned; ETIMEDOUT when it took over 250 ms (the CPUs were busy with other
 * work: it never holds up its caller longer); ENOSYS off Linux; a pthread error when the second
 * thread cannot start. *out is zeroed first (CPUs -1). */
CC_API int sk_bench_handoff(uint32_t round_trips, uint32_t batches, sk_handoff_result_t *out);

#ifdef __cplusplus
}
#endif

#endif /* SK_BENCH_ENGINE_H */
