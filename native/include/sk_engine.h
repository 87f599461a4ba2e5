/* sk_engine.h — stresskit's native stress engine.
 *
 * A run is a set of roles (groups of threads) that allocate, hand blocks to each other through
 * bounded lock-free queues, retire them (SMR) and free them, all through the cc_* glue. The
 * threads are the caller's: each calls sk_role_step() repeatedly, and each call does a bounded
 * chunk of work (about `budget_ns`) in C, so an interpreter that released its lock around the call
 * (cffi does) gets control back between chunks to check deadlines and report progress, while the
 * work itself runs truly in parallel.
 *
 * Lifecycle (one thread drives it, role threads only call sk_role_step):
 *   sk_run_create -> sk_run_add_queue* -> sk_run_add_role* -> sk_run_prepare -> sk_run_start
 *   -> role threads: while (!sk_role_step(...)) {}     (driver: sk_run_sample, sk_run_progress,
 *                                                       sk_run_request_stop / sk_run_abort)
 *   -> after every role thread returned: sk_run_drain -> sk_run_totals / sk_run_role_stats /
 *      sk_run_role_hist / sk_run_series -> sk_run_destroy.
 *
 * Blocks. Every block carries a 16-byte header and a body pattern, written at allocation and
 * verified before it is freed:
 *   word 0: mix(seed ^ serial)       — identity: a block handed to the wrong place or overwritten
 *   word 1: size | tag << 48         — the size requested and the state (allocated / retired)
 *   body  : a pattern derived from word 0 (whole body up to 4 KiB; beyond, the first 256 and the
 *           last 64 bytes); a retired block of >= 32 bytes carries its retire epoch and time in
 *           body words 0 and 1 instead.
 * The block's written extent is max(request, 16) capped at its usable size: a 1-15 byte request
 * still gets its header, in the usable bytes the glue promises (16 at least); a block whose usable
 * size is below 16 (a broken glue) gets only the pattern. The engine's byte counts are requested
 * sizes; its ledger (sk_checks_t) also sums usable sizes, which is what the glue statistics count.
 * A damaged header or pattern is counted as a canary failure, never ignored.
 * Right after verification and before cc_free/cc_free_unsized, the engine stamps the block as
 * "freed" for the leak ledger (the line is hot already: two or three stores): word 1's tag says
 * freed (from live or from retired), and a block of >= 32 bytes gets two stamp words in body
 * words 0 and 1 (words 2 and 3 for a retired block of >= 48 bytes, keeping its retire stamp):
 * (freer << 44 | free time >> 10) and (retirer << 44 | allocation time >> 10), freer and retirer
 * as "who" codes (see the diagnostics section below), times since the run's start. A block under
 * 32 bytes has no body words to spare: its word 1 carries size | freer << 8 | free time >> 20
 * << 28 under a tag of its own. A block the
 * glue really freed is never read again; one it dropped is found by sk_run_mimalloc_leaks with
 * its stamp, which says who handed it to the glue and when.
 *
 * Latency sampling. An operation is timed with probability 1/latency_sample_every, drawn per op
 * from a thread's own generator (not every N-th op: a fixed stride aliases with batches, size
 * cycles and alternating op kinds, and some kinds would never be timed).
 *
 * Ownership (double hand-off / double free detection). A block that may already be freed must not
 * be read, so ownership lives out of line: each handed-off block gets a serial number, and the run
 * keeps 2 bits of state per serial (free / live / retired) in a lazily allocated table. Taking a
 * block out of a queue is an atomic compare-and-swap of its state (live -> retired for a retirer,
 * live|retired -> free for a freer); only the winner touches the block. A duplicate hand-off loses
 * the CAS and is counted in double_handoffs without touching memory. Serials are never reused, so
 * there is no ABA; the cost is 2 bits per handed-off block for the life of the run (16 KiB per
 * 65536 blocks; at most 2^32 blocks per run, after which allocating roles stop). Blocks that never
 * leave their thread (alloc_free, oom, warm-up) are owned by construction and skip the table.
 *
 * Engine bookkeeping (queues, tables, histograms, lists) uses the C library's allocator, never the
 * glue, so it neither shows in the glue statistics nor consumes an OOM role's bounded memory.
 */
#ifndef SK_ENGINE_H
#define SK_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc_alloc.h"
#include "sk_batch.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SK_MIN_BLOCK = 16,        /* smallest block the engine allocates (header size) */
    SK_SIZE_MAX_VALUES = 64,  /* most values a size distribution may list */
    SK_HIST_BUCKETS = 512,    /* latency histogram: 8 exact buckets, then 8 per power of two */
    SK_QUEUE_MAX_CAPACITY = 1 << 24,
    SK_MAX_ROLES = 64,        /* per run */
    SK_MAX_QUEUES = 64,       /* per run */
    SK_MAX_THREADS_PER_ROLE = 4096,
    SK_MAX_BATCH = 65536,     /* blocks per burst; stresskit's schema allows the same */
    SK_MAX_CALLOC_COUNT = 4096, /* most blocks cc_calloc is asked for at once (count factor) */
    SK_MIN_LIMBO = 4096,      /* a reclaim thread's limbo holds at least this many blocks... */
    SK_MAX_LIMBO = 1 << 24,   /* ...and at most this many (sk_role_config_t.limbo_max) */
    SK_SERIES_MAX = 8192,     /* unreclaimed time series: most points kept (sk_run_sample) */
    SK_OOM_MAX_LEDGER = 1 << 24, /* most blocks an oom role's ledger remembers */
    SK_MAX_LIVE_SET = 1 << 20,  /* most blocks one thread of a live-set role keeps live */
    SK_MAX_WRITES = 1 << 16     /* most rewrites of one block before its free */
};

/* What a role's threads do (see stresskit/plan.py for the meaning of each). */
typedef enum sk_action {
    SK_ACT_ALLOC_FREE = 0, /* allocate a batch, verify, free it locally */
    SK_ACT_PRODUCE = 1,    /* allocate and push to the outbox */
    SK_ACT_CONSUME = 2,    /* pop from the inbox and free */
    SK_ACT_RETIRE = 3,     /* pop, stamp with epoch and time, push to the outbox (retire list) */
    SK_ACT_RECLAIM = 4,    /* pop retired blocks, free each once older than the grace */
    SK_ACT_OOM = 5         /* under a memory bound: allocate until NULL, free part, recover */
} sk_action_t;

typedef enum sk_size_kind {
    SK_SIZE_FIXED = 0,   /* values[0] */
    SK_SIZE_UNIFORM = 1, /* integer uniform in [values[0], values[1]] */
    SK_SIZE_CHOICE = 2,  /* one of values[0..count), weighted by weights (all 0 = equal) */
    SK_SIZE_LOG_UNIFORM = 3 /* in [values[0], values[1]]: a power-of-two class uniformly (each as
                               likely), then uniform inside it: weighted towards small sizes */
} sk_size_kind_t;

/* Timed operations (latency histograms). */
typedef enum sk_op {
    SK_OP_ALLOC = 0,   /* the cc_* allocation call alone */
    SK_OP_FREE = 1,    /* the cc_free / cc_free_unsized call alone */
    SK_OP_HANDOFF = 2, /* a push to a queue, from first attempt to success (includes full retries) */
    SK_OP_LIFETIME = 3, /* a handed-off block, from its allocation to its free by another role
                           (queueing, retirement and grace included); recorded by the freeing role */
    SK_OP_COUNT = 4
} sk_op_t;

typedef enum sk_oom_mechanism {
    SK_OOM_MIMALLOC_ARENA = 0, /* an exclusive mimalloc arena of exactly the limit, which the oom
                                  threads' default heap allocates from (engine_oom.c) */
    SK_OOM_RLIMIT_AS = 1       /* setrlimit(RLIMIT_AS, current address space + limit) */
} sk_oom_mechanism_t;

/* The smallest bound SK_OOM_MIMALLOC_ARENA can set: mimalloc's smallest arena (32 MiB in 3.4). */
CC_API uint64_t sk_oom_min_limit(void);

/* One role, as sk_run_add_role copies it. Zero-initialise, then fill. */
typedef struct sk_role_config {
    int32_t action;  /* sk_action_t */
    int32_t kind;    /* sk_kind_t: which cc_* call allocates */
    uint32_t threads;
    int32_t inbox;   /* queue index (sk_run_add_queue's result), or -1 */
    int32_t outbox;  /* queue index, or -1 */
    uint32_t free_unsized; /* 1: cc_free_unsized, 0: cc_free(ptr, size) */
    uint64_t alignment;    /* SK_KIND_ALIGNED only */
    uint64_t batch;        /* blocks per burst (1..4096) */
    int32_t size_kind;     /* sk_size_kind_t */
    uint32_t size_count;   /* values used in size_values */
    uint64_t size_values[SK_SIZE_MAX_VALUES];
    double size_weights[SK_SIZE_MAX_VALUES];
    uint64_t epoch_every;  /* retire: advance the global epoch every this many retirements */
    uint64_t grace_epochs; /* reclaim */
    uint64_t grace_ns;     /* reclaim */
    uint64_t memory_limit_bytes; /* oom */
    double oom_free_fraction;    /* oom: share of the obtained blocks freed before the recovery probe */
    int32_t oom_mechanism;       /* sk_oom_mechanism_t */
    int32_t reserved0;
    /* Contract edges. Every `edge_probe_every`-th operation (0 = never) of an allocating role is
     * preceded by one probe of an edge of the glue's contract, in turn: size 0 (NULL, errno
     * untouched), an overflowing cc_calloc and an oversized request of each kind (NULL, ENOMEM,
     * counted in failed_count), an invalid alignment (NULL, EINVAL, not counted), a cc_calloc
     * whose two factors are both small and odd, a 1-15 byte cc_alloc, and frees of NULL. */
    uint64_t edge_probe_every;
    /* SK_KIND_CALLOC: the count factor of cc_calloc(count, size) is uniform in
     * [1, calloc_count_max] (0 or 1: always 1); the block is count x size bytes. */
    uint64_t calloc_count_max;
    /* reclaim: most retired blocks one thread holds while they wait out their grace (its limbo).
     * 0: 4 x the inbox's capacity, clamped to [SK_MIN_LIMBO, SK_MAX_LIMBO]. A full limbo makes
     * the thread stop popping its inbox (its retirers, then producers, wait on full queues) until
     * its oldest block is due: the grace is never cut short to make room. */
    uint64_t limbo_max;
    /* Canonical workloads (engine_workloads.c). `writes` (alloc_free, consume; 0 = none): the
     * thread that frees a block first rewrites its whole verified layout this many times (the
     * same bytes, so verification still holds; a compiler barrier between passes keeps every pass):
     * the cache-line traffic of cache-thrash (own blocks) and cache-scratch (handed-over blocks).
     * `live_set` (alloc_free; 0 = batches): each thread keeps this many blocks live and every op
     * frees a random one of them and allocates its replacement (larson, mstress).
     * `handover_every` (with live_set; 0 = never): after this many ops a thread hands its whole
     * live set to the next thread of its role (index + 1, wrapping) and carries on with the set
     * handed to it: blocks outlive their allocating thread's round and are freed by another
     * thread. Such blocks are tracked in the ownership table like queued ones. */
    uint64_t writes;
    uint64_t live_set;
    uint64_t handover_every;
} sk_role_config_t;

/* A role's counters summed over its threads. Allocation and byte counts include warm-up;
 * `ops` and `elapsed_ns` exclude it. */
typedef struct sk_role_stats {
    uint64_t ops;             /* the role's unit: allocations (produce, alloc_free, oom),
                                 frees (consume, reclaim), retirements (retire); measured only */
    uint64_t allocs;          /* successful allocations, warm-up included */
    uint64_t frees;
    uint64_t failed_allocs;   /* NULL returns (outside the oom role these are failures) */
    uint64_t bytes_allocated; /* requested (rounded) sizes */
    uint64_t bytes_freed;
    uint64_t canary_failures; /* damaged header/pattern, non-zero calloc memory, misalignment */
    uint64_t double_handoffs; /* a block taken out of a queue that was not (or no longer) live */
    uint64_t full_retries;    /* pushes that found the queue full */
    uint64_t empty_retries;   /* pops that found the queue empty while upstream still ran */
    uint64_t warmup_ops;
    uint64_t elapsed_ns;      /* earliest measured start to latest finish among its threads */
    int64_t max_threads_inside; /* most of this role's threads inside sk_role_step at once */
    uint64_t threads_done;
    uint64_t min_age_at_free_ns;   /* reclaim: youngest retired block freed (UINT64_MAX: none) */
    uint64_t min_epochs_at_free;   /* reclaim: fewest epochs elapsed at a free (UINT64_MAX: none) */
    uint64_t retired_blocks;       /* retire: blocks stamped; reclaim: blocks freed after grace */
    /* oom role only */
    uint64_t oom_null_returns;
    uint64_t oom_bytes_before_null; /* usable bytes all oom threads held when the first NULL came */
    uint64_t oom_blocks_before_null;
    uint64_t oom_recovered;        /* 1: an allocation of the failing size succeeded after the free */
    uint64_t oom_limit_applied;    /* 1: the bound was installed */
    uint64_t oom_hit_safety_cap;   /* 1: stopped at the safety cap without seeing NULL */
    uint64_t oom_peak_bytes;       /* most usable bytes all oom threads held at once (bound full) */
    /* canonical workloads (sk_role_config_t.writes, live_set, handover_every) */
    uint64_t writes;          /* rewrite passes over blocks before their free */
    uint64_t foreign_writes;  /* ... of those, over blocks another thread allocated */
    uint64_t handovers;       /* live sets handed to the role's next thread */
    uint64_t handover_blocks; /* blocks in those sets */
    uint64_t foreign_frees;   /* live-set blocks freed by a thread other than their allocator */
} sk_role_stats_t;

/* Whole-run figures. Valid once every role thread returned from its last sk_role_step. */
typedef struct sk_run_totals {
    uint64_t blocks_allocated; /* every successful engine allocation */
    uint64_t blocks_freed;     /* every engine free, including sk_run_drain's */
    uint64_t bytes_allocated;
    uint64_t bytes_freed;
    uint64_t blocks_reaped;    /* freed by sk_run_drain (in flight when the run stopped) */
    uint64_t bytes_reaped;
    uint64_t reap_canary_failures;
    uint64_t reap_double_handoffs;
    uint64_t unreclaimed_blocks;     /* retired and not yet freed, now */
    uint64_t unreclaimed_bytes;
    uint64_t unreclaimed_peak_blocks;
    uint64_t unreclaimed_peak_bytes;
    uint64_t epoch;                  /* the global epoch reached */
    int64_t max_threads_inside;      /* most role threads (any role) inside sk_role_step at once */
    uint64_t elapsed_ns;             /* sk_run_start to the last thread's finish */
    uint64_t serials_used;           /* handed-off blocks tracked by the ownership table */
    /* Integral of unreclaimed bytes (blocks) over time, in byte-ns (block-ns): the sum over every
     * retired block of its size (1) times the time from retirement to its free (or to the run's
     * end, for blocks freed by sk_run_drain). Divided by elapsed_ns: the exact time-weighted
     * average, not an estimate from samples. Valid after sk_run_drain. */
    double unreclaimed_byte_ns;
    double unreclaimed_block_ns;
} sk_run_totals_t;

/* The glue's contract as the engine saw it, per role (sk_run_role_checks) or for the whole run
 * (sk_run_checks: every role, the final drain, mimalloc's own view and the timer). Every block
 * the glue returns is checked: its alignment (16 for plain and calloc, the requested alignment,
 * the cache line for nodes), its usable size (>= the request; nodes: >= the request rounded to
 * whole lines), calloc memory zero (every byte up to 4 KiB, head, tail and sampled words beyond);
 * every NULL is checked for its errno. The ledger fields are what the glue's statistics must
 * equal once the run has drained (see cc_alloc_stats_t). */
typedef struct sk_checks {
    uint64_t misaligned;        /* blocks not aligned as the kind promises */
    uint64_t short_blocks;      /* usable size below what was requested */
    uint64_t calloc_dirty;      /* cc_calloc memory with a non-zero byte */
    uint64_t bad_errno;         /* a NULL with the wrong errno, or size 0 that changed errno */
    uint64_t size0_blocks;      /* size 0 returned a block */
    uint64_t invalid_accepted;  /* an invalid alignment returned a block */
    uint64_t overflow_accepted; /* an overflowing or oversized request returned a block */
    uint64_t probes;            /* contract-edge probes made */
    /* ledger: everything the engine did through the glue, warm-up, probes and drain included */
    uint64_t allocs;            /* blocks the glue returned */
    uint64_t frees;             /* non-NULL blocks given back */
    uint64_t usable_allocated;  /* their usable sizes (cc_usable_size at allocation) */
    uint64_t usable_freed;
    uint64_t enomem_nulls;      /* NULLs the glue must count in failed_count (ENOMEM cases) */
    /* whole run only */
    uint64_t mimalloc_leaked_blocks; /* engine blocks of this run that mimalloc still holds as
                                        allocated after the drain (sk_run_mimalloc_leaks) */
    uint64_t mimalloc_leaked_bytes;
    uint64_t timer_overhead_ns; /* median cost of one pair of clock reads: latency samples
                                   include it */
} sk_checks_t;

typedef struct sk_run sk_run_t;
typedef struct sk_queue sk_queue_t;

/* ---- building a run ------------------------------------------------------------------------ */

/* A new, empty run. Every thread's PRNG derives from `seed`, its role index and thread index.
 * One operation in `latency_sample_every` (>= 1) is timed, at random. NULL if out of memory. */
CC_API sk_run_t *sk_run_create(uint64_t seed, uint32_t latency_sample_every);

/* Add a bounded hand-off queue; `capacity` must be a power of two in [2, SK_QUEUE_MAX_CAPACITY].
 * Returns its index, or -1 (bad capacity, SK_MAX_QUEUES reached, out of memory, or the run is
 * already prepared). */
CC_API int32_t sk_run_add_queue(sk_run_t *run, uint64_t capacity);

/* Add a role (the config is copied). Returns its index, or -1 when the config is invalid: unknown
 * action or kind, 0 threads or more than SK_MAX_THREADS_PER_ROLE, batch outside 1..SK_MAX_BATCH,
 * a size of 0 or above 2^40, a uniform range with min > max, a negative weight, an alignment that
 * is not a power of two in [8, 2^20], an inbox/outbox missing where the action needs one (produce:
 * outbox; consume, reclaim: inbox; retire: both) or present where it makes no sense, a queue index
 * not added, an oom role without a limit or with a free fraction outside [0, 1], `writes` above
 * SK_MAX_WRITES or on an action other than alloc_free/consume, `live_set` above SK_MAX_LIVE_SET or
 * on an action other than alloc_free, `handover_every` without `live_set`; or when
 * SK_MAX_ROLES roles exist or the run is already prepared. */
CC_API int32_t sk_run_add_role(sk_run_t *run, const sk_role_config_t *config);

/* Freeze the run: count each queue's upstream threads, split `total_ops` measured allocations
 * evenly over every produce/alloc_free thread (0 = no op limit: run until sk_run_request_stop),
 * give each of those threads `warmup_ops` warm-up allocations, allocate per-thread state.
 * Returns 0, or -1 if out of memory or called twice. */
CC_API int32_t sk_run_prepare(sk_run_t *run, uint64_t total_ops, uint64_t warmup_ops);

/* Track at most `serials` handed-off blocks (rounded up to whole chunks of 65536; default and
 * maximum 2^32): the ownership table then never passes serials / 4 bytes. Allocating roles stop
 * when it is spent, as when 2^32 is. Before sk_run_prepare; returns 0, or -1 (0 serials, or the
 * run is already prepared). */
CC_API int32_t sk_run_limit_tracked(sk_run_t *run, uint64_t serials);

/* Set the run's time origin (series timestamps, elapsed). Call right before releasing the threads. */
CC_API void sk_run_start(sk_run_t *run);

/* ---- optional checks: what a benchmark may turn off (never a scenario's default) ---------- */

/* Each bit turns one of the engine's safety checks off for a run, so a benchmark can measure what
 * each costs per block, or run the engine with exactly the checks of a minimal hand-written loop
 * (write and check the first word). Every bit weakens the run: the bug that check exists for goes
 * unseen. stresskit's scenarios never set them; only the benchmark harness does (sk_bench.h). */
typedef enum sk_check_off {
    SK_OFF_PATTERN = 1u << 0,     /* canary: only word 0 (identity) is written and verified; no
                                     header word 1, no body pattern (an overrun past word 0 and a
                                     block of the wrong size go unseen; the leak scan, which knows
                                     blocks by word 1's tag, no longer recognises them) */
    SK_OFF_CONTRACT = 1u << 1,    /* per-block contract checks: no cc_usable_size, alignment or
                                     usable-size check (the ledger counts requested bytes) */
    SK_OFF_OWNERSHIP = 1u << 2,   /* the ownership table: handed-off blocks are untracked, so a
                                     double hand-off or double free is not detected */
    SK_OFF_LATENCY = 1u << 3,     /* latency sampling: no histograms, no lifetime times */
    SK_OFF_LEAK_STAMPS = 1u << 4, /* free stamps: a block the glue drops is not attributed */
    SK_OFF_HEARTBEAT = 1u << 5,   /* watchdog wait states and heartbeats: a stall is not seen */
    SK_OFF_ALL = 0x3F
} sk_check_off_t;

/* Turn the checks in `mask` (sk_check_off_t bits) off for this run. Before sk_run_prepare;
 * returns 0, or -1 (unknown bits, or the run is already prepared). */
CC_API int32_t sk_run_checks_off(sk_run_t *run, uint32_t mask);

/* ---- running ----------------------------------------------------------------------------- */

/* Do up to about `budget_ns` of role `role`'s work as its thread `thread` (each (role, thread)
 * pair must be driven by one OS thread at a time). A thread's first call first waits (up to 2 s)
 * until every thread of the run has made its first call: a native start line. Returns 1 when that thread has finished (its
 * quota is done or a stop was requested, and for freeing roles every upstream thread has finished
 * and the inbox is drained), 0 when there is more to do, -1 for a bad index or unprepared run.
 * Calling again after 1 returns 1. */
CC_API int32_t sk_role_step(sk_run_t *run, uint32_t role, uint32_t thread, uint64_t budget_ns);

/* Graceful stop: allocating roles stop at their next block; freeing roles still drain and honour
 * the grace, so the run ends with nothing leaked. Any thread, any time. */
CC_API void sk_run_request_stop(sk_run_t *run);

/* Immediate stop: every role returns 1 at its next check, leaving blocks in flight for
 * sk_run_drain. For errors and interrupts. Any thread, any time. */
CC_API void sk_run_abort(sk_run_t *run);

/* Append (time since start, unreclaimed blocks, unreclaimed bytes) to the run's series. Call from
 * one thread at a time (the driver). */
CC_API void sk_run_sample(sk_run_t *run);

/* Measured allocations done so far by allocating roles (updated at the end of each chunk). */
CC_API uint64_t sk_run_progress(const sk_run_t *run);

/* ---- after the role threads returned ----------------------------------------------------- */

/* Free every block still in flight (queues, pending pushes, reclaim lists, oom holdings), verifying
 * each, and account for it (blocks_reaped). Call only once no thread is inside sk_role_step;
 * repeated calls are harmless. sk_run_destroy calls it too. */
CC_API void sk_run_drain(sk_run_t *run);

/* Counters of role `role`, summed over its threads. Returns 0, or -1 for a bad index. */
CC_API int32_t sk_run_role_stats(const sk_run_t *run, uint32_t role, sk_role_stats_t *out);

/* Merged latency histogram of role `role` for op `op` (sk_op_t): copies SK_HIST_BUCKETS counts
 * into `buckets` (may be NULL), the largest sample into *max_ns (may be NULL). Returns the number
 * of samples (0 for a bad index). */
CC_API uint64_t sk_run_role_hist(const sk_run_t *run, uint32_t role, uint32_t op, uint64_t *buckets,
                                 uint64_t *max_ns);

/* The run's wall time in three phases, in ns (any pointer may be NULL): start-up, from
 * sk_run_start until the last thread reached the native start line; warm-up, from there to the
 * first measured operation of any thread; measured, from that operation to the last thread's
 * finish (the window throughput is computed over). 0 for a phase that did not happen. */
CC_API void sk_run_phases(const sk_run_t *run, uint64_t *startup_ns, uint64_t *warmup_ns, uint64_t *measured_ns);

/* Whole-run figures into *out. */
CC_API void sk_run_totals(const sk_run_t *run, sk_run_totals_t *out);

/* Contract checks and ledger of role `role` (threads summed). Returns 0, or -1 for a bad index. */
CC_API int32_t sk_run_role_checks(const sk_run_t *run, uint32_t role, sk_checks_t *out);

/* The same for the whole run (every role plus the drain), with mimalloc's view as last measured
 * by sk_run_mimalloc_leaks and the timer calibration. */
CC_API void sk_run_checks(const sk_run_t *run, sk_checks_t *out);

/* Ask mimalloc, not the engine's books, what is left: after sk_run_drain and once every role
 * thread has exited, collect and visit every block mimalloc holds as allocated and count those
 * that carry this run's block header (identity word and tag). The engine freed every one of its
 * blocks, so any such block is a leak inside the glue (a free that never reached mimalloc).
 * Blocks whose usable size is below 16 bytes carry no header and are not seen here. Stores the
 * result for sk_run_checks, records the leaked blocks for sk_run_leak_records / sk_run_leak_groups
 * (decoding each one's serial and free stamp) and returns the number of leaked blocks. */
CC_API uint64_t sk_run_mimalloc_leaks(sk_run_t *run);

/* Copy up to `cap` series samples into the arrays (any may be NULL); returns how many exist. */
CC_API size_t sk_run_series(const sk_run_t *run, uint64_t *t_ns, uint64_t *blocks, uint64_t *bytes,
                            size_t cap);

/* Drain (see above) and release everything the run owns. NULL is a no-op. */
CC_API void sk_run_destroy(sk_run_t *run);

/* ---- histogram buckets ------------------------------------------------------------------- */

/* Bucket of a latency: values 0..7 exactly, then 8 sub-buckets per power of two. */
CC_API uint32_t sk_hist_bucket_index(uint64_t ns);

/* Smallest value that falls in bucket `index` (the next bucket's lower bound is its end);
 * UINT64_MAX for the unused buckets 496..511 (2^64-1 falls in bucket 495). */
CC_API uint64_t sk_hist_bucket_lower(uint32_t index);

/* ---- the bounded MPMC queue on its own (for tests) --------------------------------------- */

/* The engine's hand-off ring (Vyukov's bounded MPMC queue: one sequence number per slot, one CAS
 * per push or pop, no lock), carrying one 64-bit value per slot. Capacity as sk_run_add_queue. */
CC_API sk_queue_t *sk_queue_create(uint64_t capacity);
CC_API void sk_queue_destroy(sk_queue_t *queue);
CC_API uint64_t sk_queue_capacity(const sk_queue_t *queue);

/* Non-blocking push/pop: false when full / empty. */
CC_API bool sk_queue_push(sk_queue_t *queue, uint64_t value);
CC_API bool sk_queue_pop(sk_queue_t *queue, uint64_t *value);

/* Push first, first+1, ..., first+count-1 in order, retrying while full. Returns the number of
 * full retries. `probe` (may be NULL) records how many callers were inside at once. */
CC_API uint64_t sk_queue_test_produce(sk_queue_t *queue, uint64_t first, uint64_t count,
                                      sk_overlap_t *probe);

/* Pop into out[0..cap) until a value equal to `sentinel` is popped (not stored) or `cap` values
 * are stored. Returns how many were stored. */
CC_API uint64_t sk_queue_test_consume(sk_queue_t *queue, uint64_t *out, uint64_t cap,
                                      uint64_t sentinel, sk_overlap_t *probe);

/* ---- testing hooks ------------------------------------------------------------------------ */

/* The next `count` blocks about to be verified and freed get one body byte flipped first (a
 * planted overrun): the verification must count each as a canary failure. */
CC_API void sk_engine_testing_corrupt_next(sk_run_t *run, uint64_t count);

/* The next `count` successful pushes push the same block a second time (a planted double
 * hand-off): the ownership check must count each in double_handoffs and touch nothing. A
 * live-set role (handover_every) instead keeps a copy of its next `count` sets handed over, so
 * every block of those sets is freed from two threads' sets: each must be refused once. */
CC_API void sk_engine_testing_double_handoff_next(sk_run_t *run, uint64_t count);

/* The next `count` blocks about to be freed are verified and counted as freed but never given
 * to the glue (a planted leak the engine's books cannot see): sk_run_mimalloc_leaks must find
 * each of them. */
CC_API void sk_engine_testing_leak_next(sk_run_t *run, uint64_t count);

/* ---- invariants (tier 3) ----------------------------------------------------------------- */

/* What must hold of the engine's own structures; each violation is counted under its reason. */
typedef enum sk_invariant {
    SK_INV_QUEUE_INDEX = 0,          /* a queue's dequeue position past its enqueue position, or
                                        more than its capacity behind */
    SK_INV_QUEUE_CELL = 1,           /* a slot's sequence number disagrees with the positions */
    SK_INV_OWNERSHIP_STATE = 2,      /* a serial in the one state no transition produces */
    SK_INV_OWNED_AFTER_DRAIN = 3,    /* a handed-off block still live or retired after the drain */
    SK_INV_IN_FLIGHT_NOT_OWNED = 4,  /* a block in a queue, pending push, limbo or handed-over live
                                        set whose ownership state is not live (not yet retired) or
                                        retired (stamped) */
    SK_INV_LIMBO_BOUNDS = 5,         /* a reclaim thread's limbo ring outside its capacity/limit */
    SK_INV_FUTURE_EPOCH = 6,         /* a retired block stamped with an epoch the run has not
                                        reached (epochs only grow) */
    SK_INV_GRACE_CUT_SHORT = 7,      /* a reclaim role freed a block younger than its grace */
    SK_INV_BOOKS_UNBALANCED = 8,     /* after the drain, blocks allocated != blocks freed */
    SK_INV_UNRECLAIMED_AFTER_DRAIN = 9, /* unreclaimed counters not back to zero after the drain */
    SK_INV_PEAK_BELOW_CURRENT = 10,  /* an unreclaimed peak below the current value */
    SK_INV_COUNT = 11
} sk_invariant_t;

/* Check the run's invariants and store a count per reason in counts[0..SK_INV_COUNT). Call only
 * while no role thread is inside sk_role_step: before sk_run_drain (`drained` 0: queues, pending
 * pushes and limbo lists are checked entry by entry) or after it (`drained` 1: also nothing left
 * owned, the books balanced, unreclaimed back to zero). Returns the total. */
CC_API uint64_t sk_run_invariants(const sk_run_t *run, int32_t drained, uint64_t *counts);

/* The reason's name ("queue_index", ...), NULL past SK_INV_COUNT. */
CC_API const char *sk_invariant_name(uint32_t reason);

/* Plant a violation of `reason` (tests of the checker only), leaving the run drainable. Call
 * between the role threads' end and the checks. Returns 0, or -1 if this run has nothing to break
 * that way (e.g. no reclaim role for SK_INV_LIMBO_BOUNDS). */
CC_API int32_t sk_engine_testing_break_invariant(sk_run_t *run, uint32_t reason);

/* Aim a hook at one role: hook 0 = corrupt, 1 = double hand-off, 2 = leak; `role` is the index
 * of the role whose threads fire it (corrupt, leak: the role that verifies and frees the block;
 * double hand-off: the role whose push is doubled), or -1 for any role (the default). A hook
 * aimed at a role never fires in the drain. Unknown hooks are ignored. */
CC_API void sk_engine_testing_hook_role(sk_run_t *run, int32_t hook, int32_t role);

/* ---- diagnostics: leaks and corruption (engine_diag.c) ------------------------------------ */

/* Where a diagnosis says the engine saw a block, and by whom ("who" codes, 32 bits):
 *   0                          unknown (a block too small for a stamp, or never recorded)
 *   1 + g                      thread with global index g (threads are numbered in role order,
 *                              then thread order, from 0)
 *   SK_WHO_DRAIN + location    the drain after the run, freeing what it found at `location`:
 *                              q (0..63) queue q; 64 + r role r's pending push; 128 + r role
 *                              r's reclaim limbo (retire list); 192 + r role r's holdings (an
 *                              oom role's ledger, a live-set role's sets, handed over or not).
 * Times are nanoseconds since sk_run_start. Times taken on the hot path (allocation of an
 * unsampled block, the free stamp) are the thread's last budget check (the clock a role reads
 * anyway: every 128 operations, after each batch of a local role, on each empty pop), truncated
 * to 1024 ns (2^20 ns for the stamp of a block under 32 bytes); the hot path reads no clock. */
#define SK_WHO_DRAIN (UINT32_C(1) << 19)
#define SK_DIAG_UNKNOWN UINT64_MAX

enum {
    SK_DIAG_MAX_LEAKS = 32,      /* leaked blocks kept in full per scan */
    SK_DIAG_MAX_GROUPS = 256,    /* distinct leak groups; the rest is summed in one "other" group */
    SK_DIAG_MAX_DAMAGED = 16,    /* damaged blocks kept in full per run */
    SK_DIAG_MAX_DOUBLES = 16,    /* double hand-offs / frees kept in full per run */
    SK_DIAG_WINDOW = 32,         /* bytes of actual and expected memory around the first wrong byte */
    SK_DIAG_LOCATIONS = 256,     /* drain location codes (see above) */
    SK_DIAG_RING = 64            /* serials each thread remembers taking (double hand-off owners) */
};

/* The state a leaked block's header says it was in when the engine last touched it. */
typedef enum sk_block_state {
    SK_STATE_LIVE = 0,          /* allocated, never given to cc_free (the engine lost it) */
    SK_STATE_RETIRED = 1,       /* retired, never given to cc_free */
    SK_STATE_FREED = 2,         /* verified and given to cc_free/cc_free_unsized (live block) */
    SK_STATE_FREED_RETIRED = 3  /* the same, after its retirement and grace */
} sk_block_state_t;

/* One leaked block found by sk_run_mimalloc_leaks. Unknown fields are SK_DIAG_UNKNOWN (times,
 * epoch, index) or 0 (who codes). */
typedef struct sk_leak_record {
    uint64_t address;      /* the block's user pointer */
    uint64_t size;         /* requested size (count x size for cc_calloc) */
    uint64_t serial;       /* the engine's serial (bit 63: untracked, never handed off) */
    uint64_t alloc_index;  /* n-th block of its allocating thread in its class (handed-off blocks
                              count from 0 in serial order; local ones likewise), for replay */
    uint32_t alloc_who;    /* who allocated it */
    uint32_t state;        /* sk_block_state_t */
    uint32_t freer;        /* who gave it to the glue's free (FREED* states) */
    uint32_t retirer;      /* who retired it (0: not retired or unknown) */
    uint64_t born_ns;      /* allocation time */
    uint64_t freed_ns;     /* when it was given to the glue's free */
    uint64_t retire_epoch; /* epoch at retirement */
    uint64_t retire_ns;
} sk_leak_record_t;

/* Leaked blocks of one (allocating thread, state, freer, size class) are summed in one group.
 * size_class: the smallest c with size <= 2^c; 255 for the "other" group (table full). */
typedef struct sk_leak_group {
    uint32_t alloc_who, state, freer, size_class;
    uint64_t blocks, bytes;
} sk_leak_group_t;

/* A block that failed verification. The window holds SK_DIAG_WINDOW bytes from `window_start`
 * (fewer when the block is shorter: window_len); bit i of `checked` says whether byte i is one
 * the engine verifies (unchecked bytes, in the unpatterned middle of a block above 4 KiB, have
 * expected = actual). */
typedef struct sk_damage {
    uint64_t address, size, usable, serial, alloc_index;
    uint32_t alloc_who;
    uint32_t finder;       /* who verified it and found the damage */
    uint32_t retirer;      /* who retired it (0: not retired) */
    uint32_t region;       /* of the first wrong byte: 0 identity word, 1 size/tag word, 2 retire
                              stamp (epoch, time), 3 body pattern */
    uint64_t born_ns, retire_ns, retire_epoch, found_ns;
    uint64_t offset;       /* first wrong byte (SK_DIAG_UNKNOWN: none found on a second look) */
    uint64_t window_start;
    uint32_t window_len, checked;
    uint8_t actual[SK_DIAG_WINDOW];
    uint8_t expected[SK_DIAG_WINDOW];
} sk_damage_t;

/* A block taken out of a queue (or found by the drain) that was not, or no longer, live: the
 * taker lost the ownership CAS and touched nothing. `state` is the block's ownership state at that
 * moment: 0 free (someone already freed it: a double free), 2 retired (someone already retired
 * it: a double hand-off into a retirer). `winner` is the thread that took it first, found by
 * searching every thread's ring of its last SK_DIAG_RING takes (best effort: 0 when the winner
 * has taken that many blocks since, or when the winner is the drain). */
typedef struct sk_double {
    uint64_t address, size, serial, alloc_index;
    uint32_t alloc_who, loser, winner, state;
    int32_t queue;         /* the queue the duplicate was popped from (-1: not a queue) */
    uint32_t reserved;
    uint64_t born_ns, found_ns;
} sk_double_t;

/* Copy up to `cap` of the leaked blocks the last sk_run_mimalloc_leaks recorded (the first
 * SK_DIAG_MAX_LEAKS it met, in visit order) into out (may be NULL). Returns how many are kept. */
CC_API size_t sk_run_leak_records(const sk_run_t *run, sk_leak_record_t *out, size_t cap);

/* Copy up to `cap` leak groups of the last scan into out (may be NULL); every leaked block the
 * scan found is in exactly one group. Returns how many groups exist. */
CC_API size_t sk_run_leak_groups(const sk_run_t *run, sk_leak_group_t *out, size_t cap);

/* Blocks (and requested bytes) the drain found still in flight, per location code (see above):
 * blocks[i], bytes[i] for i < SK_DIAG_LOCATIONS (either may be NULL). Returns the total blocks. */
CC_API uint64_t sk_run_inflight(const sk_run_t *run, uint64_t *blocks, uint64_t *bytes);

/* Copy up to `cap` damaged-block records into out (may be NULL). Returns how many blocks failed
 * verification in all (records are kept for the first SK_DIAG_MAX_DAMAGED only). */
CC_API uint64_t sk_run_damaged(const sk_run_t *run, sk_damage_t *out, size_t cap);

/* Copy up to `cap` double hand-off / double free records into out (may be NULL). Returns how
 * many were detected in all (records for the first SK_DIAG_MAX_DOUBLES). */
CC_API uint64_t sk_run_doubles(const sk_run_t *run, sk_double_t *out, size_t cap);

/* ---- watchdog (engine_watch.c) ------------------------------------------------------------ */

/* What a role thread is doing, as the watchdog sees it: the low 8 bits of a state word; bits
 * 8..31 carry the queue index for the two queue waits. Stored only on the slow path (a wait
 * begins, the first progress after it, start, finish), so reading it costs the threads nothing. */
typedef enum sk_thread_state {
    SK_TS_NOT_STARTED = 0, /* no sk_role_step call yet */
    SK_TS_RUNNING = 1,     /* working (or between two waits) */
    SK_TS_WAIT_EMPTY = 2,  /* its inbox (the queue) is empty: waits for the roles that push to it */
    SK_TS_WAIT_FULL = 3,   /* its outbox (the queue) is full: waits for the roles that pop it */
    SK_TS_START_LINE = 4,  /* at the native start line, waiting for the run's other threads */
    SK_TS_OOM_BARRIER = 5, /* an oom thread waiting for the run's other oom threads */
    SK_TS_GRACE = 6,       /* a reclaim thread whose limbo waits out its grace (epochs, time) */
    SK_TS_FINISHED = 7,    /* done: sk_role_step returns 1 */
    SK_TS_HELD = 8         /* stopped by sk_engine_testing_hold_role */
} sk_thread_state_t;

/* The watchdog's view, readable from any thread at any time while the run exists: for each of
 * the run's threads in role order (role 0's threads 0..n-1, then role 1's, ...), its state word
 * (sk_thread_state_t | queue << 8) into states[i] and its heartbeat (work done, updated at the
 * end of every chunk: equal heartbeats a timeout apart mean no progress) into heartbeats[i].
 * Either array may be NULL; at most `cap` entries are written. Returns the run's thread count
 * (0 before sk_run_prepare). */
CC_API size_t sk_run_thread_states(const sk_run_t *run, uint32_t *states, uint64_t *heartbeats, size_t cap);

/* Install a fatal-signal handler (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) that writes a header
 * ("fatal signal N (NAME) in thread TID") and the faulting thread's native backtrace
 * (backtrace_symbols_fd) to `fd`, opened by the caller beforehand, then restores the handler it
 * replaced and re-raises, so a handler installed earlier (Python's faulthandler) runs too and the
 * process still dies of the signal. Async-signal-safe after install (backtrace is called once here
 * so its unwinder is loaded). Returns 0, or -1 where there is no backtrace (non-glibc) or for a
 * negative fd. */
CC_API int32_t sk_crash_handler_install(int32_t fd);

/* Test hooks for the watchdog (tier 4). Hold: the threads of role `role` stop working at their
 * next chunk (no pops, no pushes; state SK_TS_HELD) until the run is aborted: a planted stall.
 * Crash: thread 0 of role `role` dereferences NULL at its next chunk, inside its step function: a
 * planted crash with engine frames on the faulting thread. Recirculate: retire roles accept
 * blocks already retired, so two retire roles feeding each other (q1 -> q2, q2 -> q1: a flow the
 * scenario validator rejects) keep every block in the loop and, with a producer and small queues,
 * both end waiting on a full outbox for good: a planted deadlock. Each returns 0, or -1 for a bad
 * run or role index (role < 64). */
CC_API int32_t sk_engine_testing_hold_role(sk_run_t *run, uint32_t role);
CC_API int32_t sk_engine_testing_crash_role(sk_run_t *run, uint32_t role);
CC_API int32_t sk_engine_testing_recirculate(sk_run_t *run);

/* sizeof of the public structs, so bindings can check their declarations:
 * 0 = sk_role_config_t, 1 = sk_role_stats_t, 2 = sk_run_totals_t, 3 = sk_checks_t,
 * 4 = sk_leak_record_t, 5 = sk_leak_group_t, 6 = sk_damage_t, 7 = sk_double_t; 0 for anything else. */
CC_API size_t sk_engine_abi_sizeof(int32_t which);

#ifdef __cplusplus
}
#endif

#endif /* SK_ENGINE_H */
