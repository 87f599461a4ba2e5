/* engine_internal.h — the engine's private structures, shared by native/src/engine_*.c. */
#ifndef SK_ENGINE_INTERNAL_H
#define SK_ENGINE_INTERNAL_H

#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#  undef _POSIX_C_SOURCE
#  define _POSIX_C_SOURCE 200809L /* clock_gettime, sched_yield, nanosleep, getrlimit */
#endif

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sk_engine.h"

/* SK_STEP_HOT marks a role's step function, the loop that runs once per block: every call it
 * makes into code of its translation unit is inlined into it (GCC/Clang `flatten`). CMake builds
 * engine_block.c, engine_queue.c, engine_roles.c and engine_workloads.c as one unit (UNITY_GROUP
 * engine_hot), so a step is one function with one frame instead of a chain of calls with eight
 * arguments each: 28 % fewer instructions per block on the bench's engine row (callgrind,
 * docs/performance.md). Builds that compile the files one by one (sanitizers, cross checks) get
 * the same code, only less inlined. */
#if defined(__GNUC__) || defined(__clang__)
#  define SK_STEP_HOT __attribute__((flatten, noinline))
#  define SK_NOINLINE __attribute__((noinline))
#  define SK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define SK_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#  define SK_STEP_HOT
#  define SK_LIKELY(x) (x)
#  define SK_NOINLINE
#  define SK_UNLIKELY(x) (x)
#endif

#define SK_CACHE_LINE 64
#if defined(__GNUC__) || defined(__clang__)
#  define SK_PREFETCH_WRITE(p) __builtin_prefetch((p), 1)
#  define SK_PREFETCH_READ(p) __builtin_prefetch((p), 0)
#else
#  define SK_PREFETCH_WRITE(p) ((void)(p))
#  define SK_PREFETCH_READ(p) ((void)(p))
#endif
#define SK_PREFETCH_AHEAD 4 /* slots ahead an spsc pusher asks for its next lines */

/* C11 aligned_alloc is missing from the Windows C runtime; memory from these two must be freed
 * with sk_aligned_free. `size` must be a multiple of `alignment` (C11's rule). */
#if defined(_WIN32)
#  include <malloc.h>
static inline void *sk_aligned_alloc(size_t alignment, size_t size) { return _aligned_malloc(size, alignment); }
static inline void sk_aligned_free(void *p) { _aligned_free(p); }
#else
#  include <stdlib.h>
static inline void *sk_aligned_alloc(size_t alignment, size_t size) { return aligned_alloc(alignment, size); }
static inline void sk_aligned_free(void *p) { free(p); }
#endif

/* ---- time, mixing, pseudo-random numbers ---- */

static inline uint64_t sk_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64's finaliser: a cheap bijective mix, used for patterns and seeds. */
static inline uint64_t sk_mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* A block's identity word (word 0) from its run's key and its serial: one multiply by an odd
 * constant, a bijection, so the leak scan recovers the serial from the word (sk_identity_serial).
 * The full sk_mix cost ~13 instructions on each side of every block; this costs 2. The constant is
 * not SK_GOLDEN, the stride of the body's pattern words (engine_block.c), so a block's pattern
 * never equals another block's identity word a fixed distance away. */
#define SK_IDENTITY_MUL 0xBF58476D1CE4E5B9ull
#define SK_IDENTITY_INV 0x96DE1B173F119089ull
_Static_assert((uint64_t)(SK_IDENTITY_MUL * SK_IDENTITY_INV) == 1, "SK_IDENTITY_INV inverts SK_IDENTITY_MUL mod 2^64");
static inline uint64_t sk_identity(uint64_t key, uint64_t serial) { return (key ^ serial) * SK_IDENTITY_MUL; }
static inline uint64_t sk_identity_serial(uint64_t key, uint64_t word) { return (word * SK_IDENTITY_INV) ^ key; }

static inline uint64_t sk_rand(uint64_t *state) {
    *state += 0x9E3779B97F4A7C15ull;
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Median cost of one pair of sk_now_ns() calls, measured now (engine_contract.c). */
uint64_t sk_timer_overhead_ns(void);

/* Both keep their own frames (never inlined into a step): a profile counts samples under them as
 * idle, and a stall's stacks show them (stresskit/profile_classes.py, docs/diagnostics.md). */
SK_NOINLINE void sk_cpu_relax(void);
/* Back off after `attempt` consecutive failures: spin first, then yield the core (2 cores and
 * many threads: spinning alone would starve the thread we wait for). */
SK_NOINLINE void sk_backoff(uint32_t attempt);

/* ---- queue ---- */

/* What travels through a hand-off queue: the block and, out of line, what is needed to decide
 * about it without reading it (it may already be freed if this entry is a duplicate). */
typedef struct sk_entry {
    void *ptr;
    uint64_t serial;
    uint64_t size;
    uint64_t epoch; /* retire epoch (0 until retired) */
    uint64_t t_ns;  /* retire time, monotonic (0 until retired) */
    uint64_t born_ns; /* allocation time for a sampled block (0: not sampled for SK_OP_LIFETIME) */
    uint64_t usable;  /* cc_usable_size at allocation: the written extent and the ledger's bytes */
} sk_entry_t;

/* sk_entry_t fills a 64-byte queue cell with its sequence number, so the retirer's identity
 * (a "who" code, sk_engine.h) rides in the high bits of `usable`, which never needs them. */
#define SK_USABLE_BITS 44
#define SK_USABLE_MASK ((UINT64_C(1) << SK_USABLE_BITS) - 1)
static inline uint64_t sk_entry_usable(const sk_entry_t *e) { return e->usable & SK_USABLE_MASK; }
static inline uint32_t sk_entry_retirer(const sk_entry_t *e) { return (uint32_t)(e->usable >> SK_USABLE_BITS); }
/* The diagnostics' hot-path times ("stamp units"): 1024 ns since the run's start `t0`, in 44 bits
 * (200 days); all ones = unknown. */
static inline uint64_t sk_stamp_units(uint64_t t0, uint64_t ns) {
    if (ns == 0) return SK_USABLE_MASK;
    return (ns > t0 ? (ns - t0) >> 10 : 0) & SK_USABLE_MASK;
}
/* born_ns: an exact monotonic time for a block sampled for SK_OP_LIFETIME (0: unknown);
 * otherwise this bit | the allocating thread's last clock check in stamp units (diagnostics
 * only, never a latency: the hot path reads no clock for it). */
#define SK_BORN_COARSE (UINT64_C(1) << 63)
static inline uint64_t sk_entry_born_units(uint64_t t0, const sk_entry_t *e) {
    return (e->born_ns & SK_BORN_COARSE) ? e->born_ns & SK_USABLE_MASK : sk_stamp_units(t0, e->born_ns);
}

/* Copy an entry word by word. The entry to push was just written field by field (8-byte stores,
 * still in the store buffer behind the stores of the block's pattern); a plain struct copy reads
 * it with 16-byte loads, which cannot take their data from two 8-byte stores and wait for every
 * older store to reach the cache, the block's included, whose line the other thread still holds.
 * On two cores that wait was the producer's largest single cost (~15 % of its time); 8-byte
 * loads take their data from the stores at once. volatile keeps the compiler from merging them. */
static inline void sk_entry_copy(sk_entry_t *dst, const sk_entry_t *src) {
    const volatile uint64_t *from = (const volatile uint64_t *)(const void *)src;
    uint64_t *to = (uint64_t *)(void *)dst;
    for (size_t i = 0; i < sizeof *src / sizeof(uint64_t); i++) to[i] = from[i];
}
_Static_assert(sizeof(sk_entry_t) % sizeof(uint64_t) == 0, "sk_entry_copy copies whole words");

typedef struct sk_cell {
    alignas(SK_CACHE_LINE) _Atomic uint64_t seq;
    sk_entry_t entry;
} sk_cell_t;

struct sk_queue {
    alignas(SK_CACHE_LINE) _Atomic uint64_t enqueue_pos;
    uint64_t seen_dequeue; /* spsc: the pusher's last look at dequeue_pos (its line, its copy) */
    alignas(SK_CACHE_LINE) _Atomic uint64_t dequeue_pos;
    uint64_t seen_enqueue; /* spsc: the popper's last look at enqueue_pos */
    alignas(SK_CACHE_LINE) uint64_t mask;
    sk_cell_t *cells;
    /* One pushing (popping) thread in the whole run (sk_run_prepare): its position counter has a
     * single writer, so a store replaces the CAS. The drain pops after every thread returned. */
    bool solo_push, solo_pop;
    /* Both: a Lamport ring (each side reads the other's position, and only when its cached copy
     * says full or empty), so a slot's line travels once per lap: the popper never writes it.
     * Slots still get seq = pos + 1 at each push, for the invariant checker. */
    bool spsc;
    /* Upstream completion: threads of roles whose outbox is this queue, and how many finished. */
    uint64_t upstream_total;
    alignas(SK_CACHE_LINE) _Atomic uint64_t upstream_done;
    /* Threads of roles whose inbox is this queue, and how many finished: once all have, a push
     * that finds it full gives up (nobody will pop it again; the drain frees what is left). */
    uint64_t downstream_total;
    _Atomic uint64_t downstream_done;
};

bool sk_queue_init(sk_queue_t *q, uint64_t capacity);
void sk_queue_fini(sk_queue_t *q);
bool sk_queue_try_push(sk_queue_t *q, const sk_entry_t *e);
bool sk_queue_try_pop(sk_queue_t *q, sk_entry_t *e);
/* Push in place, for a queue with one pushing thread (spsc or solo_push): the next slot's entry if
 * it is free (the caller writes the entry there), NULL if the queue is full or has several
 * pushers. sk_queue_commit publishes the reserved slot; a reservation not committed costs nothing
 * and is handed out again. Saves building the entry aside and copying it over (the producer's
 * pending entry), on every block of a 1 -> 1 flow. */
sk_entry_t *sk_queue_reserve(sk_queue_t *q);
void sk_queue_commit(sk_queue_t *q);

/* ---- histograms ---- */

typedef struct sk_hist {
    uint64_t count;
    uint64_t max_ns;
    uint64_t buckets[SK_HIST_BUCKETS];
} sk_hist_t;

void sk_hist_record(sk_hist_t *h, uint64_t ns);
void sk_hist_merge(sk_hist_t *into, const sk_hist_t *from);

/* ---- ownership table ---- */

enum { SK_OWN_FREE = 0, SK_OWN_LIVE = 1, SK_OWN_RETIRED = 2 };
/* How the table stores a state (2 bits per serial). A serial is live from the moment it is handed
 * out without any write: raw 0, what a fresh chunk holds. So the allocating thread never touches
 * the table (a locked write per block there, on a line the freeing thread CASes, was the largest
 * cost of the ownership check on two cores); the transitions store 1 (retired) and 2 (freed); 3
 * is never stored. A serial of a claimed chunk that was not handed out yet also reads live:
 * only the invariant checker needs to tell them apart, and it knows each thread's next serial. */
static inline unsigned sk_own_raw(unsigned state) {
    return state == SK_OWN_LIVE ? 0u : state == SK_OWN_RETIRED ? 1u : state == SK_OWN_FREE ? 2u : 3u;
}
static inline unsigned sk_own_state_of(unsigned raw) {
    return raw == 0u ? SK_OWN_LIVE : raw == 1u ? SK_OWN_RETIRED : raw == 2u ? SK_OWN_FREE : 3u;
}
enum {
    SK_OWN_CHUNK_BITS = 16,                     /* serials per chunk: 65536 */
    SK_OWN_MAX_CHUNKS = 1 << 16,                /* 2^32 tracked serials per run */
    SK_OWN_WORDS = (1 << SK_OWN_CHUNK_BITS) / 32 /* 2 bits per serial, 32 per word */
};
#define SK_SERIAL_UNTRACKED (UINT64_C(1) << 63)

/* ---- per-thread and per-role state ---- */

/* A live-set thread's state (engine_workloads.c). `mailbox` and `done` are the only fields
 * other threads touch: the previous thread of the role publishes its set into `mailbox`. */
typedef struct sk_wl_thread {
    sk_entry_t *live;          /* cfg.live_set slots (ptr NULL: empty); NULL while handed over */
    uint64_t since_handover;   /* ops since the last hand-over */
    sk_entry_t *dup;           /* the double hand-off hook's copy of a set being handed over */
    int32_t phase;             /* 0 working, 1 publishing its set, 2 waiting for the next one */
    uint64_t writes, foreign_writes, handovers, handover_blocks, foreign_frees;
    alignas(SK_CACHE_LINE) _Atomic(sk_entry_t *) mailbox; /* a set handed to this thread */
    _Atomic bool done;         /* finished: it neither takes nor hands over sets any more */
} sk_wl_thread_t;

typedef struct sk_thread {
    alignas(SK_CACHE_LINE) uint64_t rng;
    uint32_t role, index, global_index;
    bool started, finished, measuring;
    uint64_t quota;       /* measured allocations to do (UINT64_MAX: until stopped) */
    uint64_t warmup_left;
    uint64_t op_tick;     /* ops until the next timed one */
    uint64_t sample_rng;  /* draws op_tick; separate from rng so sampling never changes sizes */
    uint64_t probe_tick;  /* ops until the next contract-edge probe */
    uint32_t probe_next;  /* which probe comes next */
    sk_checks_t checks;   /* contract checks and ledger (single writer) */
    uint64_t reported;    /* ops already added to the run's progress */
    uint64_t t_start, t_end;
    uint64_t serial_next, serial_end; /* claimed range of tracked serials */
    uint64_t local_serial;            /* untracked serials */
    uint64_t tracked;                 /* tracked serials used */
    uint64_t retire_count;
    /* counters (single writer; read after join) */
    uint64_t ops, allocs, frees, failed_allocs, bytes_allocated, bytes_freed;
    uint64_t canary_failures, double_handoffs, full_retries, empty_retries, warmup_ops;
    uint64_t min_age_ns, min_epochs, retired;
    /* Unreclaimed integral: sum over freed retired blocks of size x (free - retire) time, and of
     * (free - retire): the exact time-weighted unreclaimed bytes/blocks once divided by the run's
     * duration, with no shared counter on the hot path. */
    double unrec_byte_ns, unrec_block_ns;
    /* a block allocated/retired but not yet pushed (queue full at the end of a chunk) */
    bool has_pending;
    sk_entry_t pending;
    /* reclaim: blocks waiting for their grace, FIFO ring of limbo_cap (a power of two) slots,
     * grown on demand up to the role's cfg.limbo_max */
    sk_entry_t *limbo;
    uint64_t limbo_head, limbo_len, limbo_cap;
    /* oom */
    int oom_phase;
    struct sk_oom_entry *oom_blocks; /* compact: an oom role holds up to its whole bound */
    uint64_t oom_n, oom_cap, oom_fail_size;
    void *oom_prev_theap; /* the thread's default mimalloc theap before the bound (arena) */
    bool oom_joined;      /* this thread is under the run's bound */
    uint64_t oom_null_returns, oom_blocks_before_null, oom_obtained_bytes;
    uint64_t oom_recovered, oom_limit_applied, oom_hit_cap;
    sk_entry_t *buf; /* alloc_free: one batch */
    sk_hist_t *hist; /* SK_OP_COUNT histograms */
    /* diagnostics: leaks and corruption (engine_diag.c) */
    uint64_t diag_t0;       /* the run's start, copied where this thread reads it */
    uint64_t diag_units;    /* the last clock check (sk_clock), in stamp units: the hot path's time */
    uint64_t diag_chunks;   /* serial chunks this thread claimed (alloc_index of tracked blocks) */
    uint64_t diag_taken_n;  /* takes so far; the ring below holds the last SK_DIAG_RING */
    _Atomic uint64_t diag_taken[SK_DIAG_RING]; /* serial + 1 of recent takes (read by losers) */

    /* watchdog (engine_watch.c) */
    _Atomic uint32_t wstate;    /* sk_thread_state: kind | queue << 8, stored on the slow path only */
    _Atomic uint64_t heartbeat; /* work done so far, stored (relaxed) once per chunk */
    bool waiting;               /* owner-only mirror of "wstate is a wait": one plain test per op */
    bool watch_off;             /* SK_OFF_HEARTBEAT: no wait states, no heartbeats */

    sk_wl_thread_t wl;          /* canonical workloads: writes, live sets, hand-overs */
} sk_thread_t;

typedef struct sk_role {
    sk_role_config_t cfg;
    double cum_weights[SK_SIZE_MAX_VALUES];
    double total_weight;
    sk_thread_t *threads;
    alignas(SK_CACHE_LINE) _Atomic int64_t inside;
    _Atomic int64_t max_inside;
} sk_role_t;

typedef struct sk_sample {
    uint64_t t_ns, blocks, bytes;
} sk_sample_t;

struct sk_run {
    uint64_t seed;
    /* Keys the blocks' identity words: the seed mixed with a per-process run count, so blocks of
     * two runs with one seed in one process (a leak of the first) are never taken for each other. */
    uint64_t identity_key;
    uint32_t sample_every;
    bool prepared;
    uint32_t nroles, nqueues;
    sk_role_t *roles;
    sk_queue_t *queues;
    uint64_t t0;
    alignas(SK_CACHE_LINE) _Atomic bool stop;
    _Atomic bool abort_now;
    alignas(SK_CACHE_LINE) _Atomic uint64_t epoch;
    alignas(SK_CACHE_LINE) _Atomic uint64_t unreclaimed_blocks;
    _Atomic uint64_t unreclaimed_bytes;
    _Atomic uint64_t peak_blocks;
    _Atomic uint64_t peak_bytes;
    alignas(SK_CACHE_LINE) _Atomic int64_t inside;
    _Atomic int64_t max_inside;
    _Atomic uint64_t progress;
    _Atomic uint64_t arrived; /* threads at the native start line */
    uint64_t total_threads;
    _Atomic uint64_t t_last_end;
    alignas(SK_CACHE_LINE) _Atomic uint64_t next_chunk;
    _Atomic(_Atomic uint64_t *) *own_dir; /* SK_OWN_MAX_CHUNKS chunk pointers */
    _Atomic uint64_t corrupt_pending;
    _Atomic uint64_t dup_pending;
    _Atomic uint64_t leak_pending;
    /* The oom bound: one per run, shared by every oom thread, set up by the first to arrive and
     * lifted once the last has finished (engine_oom.c). */
    uint64_t oom_threads;              /* threads of oom roles */
    alignas(SK_CACHE_LINE) _Atomic int oom_state; /* 0 none, 1 being set up, 2 in place, 3 failed */
    _Atomic uint64_t oom_ready;        /* oom threads under the bound (or failed to get there) */
    _Atomic uint64_t oom_full;         /* oom threads past their first NULL (or the safety cap) */
    _Atomic uint64_t oom_freed;        /* oom threads that freed their share after the NULL */
    _Atomic uint64_t oom_finished;     /* oom threads done */
    _Atomic uint64_t oom_held;         /* usable bytes the oom threads hold now */
    _Atomic uint64_t oom_held_at_null; /* oom_held when the first NULL came (0: none yet) */
    _Atomic uint64_t oom_held_peak;    /* most oom_held ever */
    void *oom_heap;                    /* mi_heap_t in the bound's exclusive arena */
    uint64_t oom_saved_rlimit;         /* RLIMIT_AS mechanism: the limit to restore */
    uint64_t own_chunks_max; /* sk_run_limit_tracked: at most SK_OWN_MAX_CHUNKS */
    /* driver-only */
    sk_sample_t *series;
    size_t series_len, series_cap;
    uint64_t series_calls, series_stride; /* sk_run_sample calls; calls per kept point */
    uint64_t reaped_blocks, reaped_bytes, reap_canary, reap_double;
    sk_checks_t drain_checks; /* the drain's frees (driver-only, like the fields above) */
    uint64_t mimalloc_leaked_blocks, mimalloc_leaked_bytes;
    uint64_t timer_overhead_ns;
    double reap_byte_ns, reap_block_ns;
    /* diagnostics: leaks and corruption (engine_diag.c) */
    struct sk_diag *diag;      /* allocated by sk_run_prepare */
    int32_t hook_role[3];      /* sk_engine_testing_hook_role: the role + 1, 0 for any role */

    /* watchdog (engine_watch.c) */
    _Atomic uint64_t test_hold_roles;  /* bit per role: its threads stop working (a planted stall) */
    _Atomic uint64_t test_crash_roles; /* bit per role: its thread 0 dereferences NULL */
    _Atomic bool test_recirculate;     /* retire roles accept retired blocks (a plantable cycle) */
    /* sk_run_checks_off: safety checks a benchmark turned off (0 for every scenario) */
    uint32_t checks_off;
    _Atomic uint64_t t_line; /* when the last thread reached the start line (sk_run_phases) */
};

/* ---- blocks (engine_block.c) ---- */

/* Header tags (word 1 >> 48). */
#define SK_TAG_LIVE 0xA11Cull
#define SK_TAG_RETIRED 0x5E71ull
#define SK_TAG_FREED 0xF7EEull         /* given to the glue's free from live */
#define SK_TAG_FREED_RETIRED 0xF7E5ull /* given to the glue's free after retirement */
/* The same for a block under 32 bytes, whose stamp lives in word 1 itself: size (8 bits) |
 * who << 8 (20 bits) | free time in units of 2^20 ns << 28 (20 bits). */
#define SK_TAG_FREED_SMALL 0xF75Aull
#define SK_TAG_FREED_SMALL_RETIRED 0xF75Bull
static inline bool sk_tag_small(uint64_t tag) { return tag == SK_TAG_FREED_SMALL || tag == SK_TAG_FREED_SMALL_RETIRED; }
/* The size a header's word 1 carries, whatever its tag. */
static inline uint64_t sk_header_size(uint64_t w1) {
    return sk_tag_small(w1 >> 48) ? (w1 & 0xFF) : (w1 & ((UINT64_C(1) << 48) - 1));
}

uint64_t sk_draw_size(const sk_role_t *r, uint64_t *rng);
/* One warm-up allocation and free, local and untimed (engine_roles.c): every allocating role's warm-up. */
void sk_warmup_one(sk_run_t *run, sk_role_t *r, sk_thread_t *t);
/* Allocate one block of a size drawn for role r, header and pattern written. `tracked`: give it a
 * tracked serial (it will be handed off). `timed`: record the allocation latency. Returns false
 * when the allocator returned NULL (or serials ran out: *exhausted set). */
bool sk_block_new(sk_run_t *run, sk_role_t *r, sk_thread_t *t, bool tracked, bool timed,
                  uint64_t size, sk_entry_t *out, bool *exhausted);
/* Verify and free a block this thread owns. Returns true if the block was intact. */
bool sk_block_free(sk_run_t *run, const sk_role_t *r, sk_thread_t *t, const sk_entry_t *e, bool timed);
/* Verify and free without role/thread (drain). */
bool sk_block_free_raw(sk_run_t *run, const sk_entry_t *e, bool unsized, uint32_t who);
/* The written extent of a block: max(request, 16) capped at its usable size. */
uint64_t sk_block_extent(const sk_entry_t *e);
/* Expected value of byte `off` of the block as verify() sees it; false if it is not verified. */
bool sk_block_expected(const sk_run_t *run, const sk_entry_t *e, uint64_t off, unsigned char *out);
/* Ownership state of a tracked serial (SK_OWN_*), read without changing it. */
unsigned sk_own_state(sk_run_t *run, uint64_t serial);
/* Stamp a live block as retired (header tag, epoch and time in the body). */
void sk_block_stamp_retired(const sk_entry_t *e);
/* One contract-edge probe (sk_role_config_t.edge_probe_every), counted in t->checks. */
void sk_edge_probe(sk_run_t *run, sk_role_t *r, sk_thread_t *t);
/* Probe before this op if the role asks for probes and its countdown says so. */
static inline void sk_maybe_probe(sk_run_t *run, sk_role_t *r, sk_thread_t *t) {
    if (r->cfg.edge_probe_every != 0 && --t->probe_tick == 0) {
        t->probe_tick = r->cfg.edge_probe_every;
        sk_edge_probe(run, r, t);
    }
}

/* Ownership: move serial's state from any state in `from_mask` (bit per state) to `to`.
 * Returns false (touching nothing) if its state was not in from_mask. */
bool sk_own_transition(sk_run_t *run, uint64_t serial, unsigned from_mask, unsigned to);
void sk_own_fini(sk_run_t *run);

/* ---- roles (engine_roles.c, engine_oom.c) ---- */

int32_t sk_step_oom(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline);
void sk_oom_release(sk_run_t *run, sk_thread_t *t);
void sk_thread_finish(sk_run_t *run, sk_role_t *r, sk_thread_t *t);
void sk_unreclaimed_add(sk_run_t *run, uint64_t bytes);
void sk_unreclaimed_sub(sk_run_t *run, uint64_t bytes);
/* A retired block (e->t_ns != 0) is being freed by thread t at time `now`: take it off the
 * unreclaimed counters and add its unreclaimed time to t's integral. */
void sk_unreclaimed_release(sk_run_t *run, sk_thread_t *t, const sk_entry_t *e, uint64_t now);

/* Gap to the next timed op: uniform in [1, 2N-1], mean N, so about one op in N is timed and no
 * fixed stride can line up with a batch or a size cycle. The draw happens once per timed op, so
 * its division stays off the untimed fast path. */
static inline uint64_t sk_sample_gap(uint32_t every, uint64_t *rng) {
    return every <= 1 ? 1 : 1 + sk_rand(rng) % (2 * (uint64_t)every - 1);
}

static inline bool sk_should_time(const sk_run_t *run, sk_thread_t *t) {
    if (--t->op_tick != 0) return false;
    if (SK_UNLIKELY(run->checks_off & SK_OFF_LATENCY)) {
        t->op_tick = UINT64_MAX; /* never again this run */
        return false;
    }
    t->op_tick = sk_sample_gap(run->sample_every, &t->sample_rng);
    return true;
}

/* Take one from a test hook's countdown (corrupt, duplicate, leak): true if there was one. The
 * plain load first keeps the common case (no hook planted) to one relaxed read. */
static inline bool sk_take_one(_Atomic uint64_t *pending) {
    uint64_t n = atomic_load_explicit(pending, memory_order_relaxed);
    while (n > 0) {
        if (atomic_compare_exchange_weak_explicit(pending, &n, n - 1, memory_order_relaxed, memory_order_relaxed))
            return true;
    }
    return false;
}

static inline void sk_atomic_max_u64(_Atomic uint64_t *a, uint64_t v) {
    uint64_t seen = atomic_load_explicit(a, memory_order_relaxed);
    while (v > seen && !atomic_compare_exchange_weak_explicit(a, &seen, v, memory_order_relaxed,
                                                              memory_order_relaxed)) {
    }
}

static inline void sk_atomic_max_i64(_Atomic int64_t *a, int64_t v) {
    int64_t seen = atomic_load_explicit(a, memory_order_relaxed);
    while (v > seen && !atomic_compare_exchange_weak_explicit(a, &seen, v, memory_order_relaxed,
                                                              memory_order_relaxed)) {
    }
}

/* ---- diagnostics: leaks and corruption (engine_diag.c) ---- */

bool sk_diag_init(sk_run_t *run);
void sk_diag_fini(sk_run_t *run);
/* Whether hook `hook` (0 corrupt, 1 double, 2 leak) fires for a thread of role `role` (-1: the
 * drain): one relaxed load when no hook is planted. hook_role holds the aimed role + 1 (0: any). */
static inline bool sk_hook_fires(sk_run_t *run, int hook, int32_t role) {
    _Atomic uint64_t *pending = hook == 0 ? &run->corrupt_pending : hook == 1 ? &run->dup_pending : &run->leak_pending;
    if (atomic_load_explicit(pending, memory_order_relaxed) == 0) return false;
    int32_t want = run->hook_role[hook];
    if (want != 0 && want != role + 1) return false;
    return sk_take_one(pending);
}
/* Thread t claimed serial chunk `chunk`. */
void sk_diag_chunk_claimed(sk_run_t *run, sk_thread_t *t, uint64_t chunk);
/* Thread t won the ownership of `serial`: one store into its ring. */
static inline void sk_diag_taken(sk_thread_t *t, uint64_t serial) {
    atomic_store_explicit(&t->diag_taken[t->diag_taken_n++ & (SK_DIAG_RING - 1)], serial + 1, memory_order_relaxed);
}
/* Slow paths: a block failed verification (before it is freed); a take lost its CAS. */
void sk_diag_damaged(sk_run_t *run, const sk_entry_t *e, uint32_t finder);
void sk_diag_double(sk_run_t *run, const sk_entry_t *e, uint32_t loser, int32_t queue);
/* The drain found e at location code `loc`. */
void sk_diag_inflight(sk_run_t *run, const sk_entry_t *e, uint32_t loc);
/* sk_run_mimalloc_leaks: forget the last scan; record one leaked block (header words read). */
void sk_diag_leak_scan_begin(sk_run_t *run);
void sk_diag_leak_found(sk_run_t *run, const unsigned char *p, uint64_t serial, uint64_t w1, uint64_t room);
static inline uint32_t sk_who_thread(const sk_thread_t *t) { return t->global_index + 1; }
/* Read the clock where a role reads it anyway (its budget checks) and keep it as the thread's
 * hot-path time: the stamps' times are then as fine as those checks, for one store. */
static inline uint64_t sk_clock(sk_thread_t *t) {
    uint64_t now = sk_now_ns();
    t->diag_units = sk_stamp_units(t->diag_t0, now);
    return now;
}

/* ---- watchdog (engine_watch.c) ---- */

/* The slow path marks a wait; the first progress after it marks running again. The fast path
 * pays one test of a thread-local bool. */
static inline void sk_watch_set(sk_thread_t *t, uint32_t kind, uint32_t queue) {
    atomic_store_explicit(&t->wstate, kind | (queue << 8), memory_order_relaxed);
    t->waiting = kind != SK_TS_RUNNING;
}
static inline void sk_watch_wait(sk_thread_t *t, uint32_t kind, uint32_t queue) {
    if (!t->waiting && !t->watch_off) sk_watch_set(t, kind, queue);
}
static inline void sk_watch_progress(sk_thread_t *t) {
    if (SK_UNLIKELY(t->waiting)) sk_watch_set(t, SK_TS_RUNNING, 0);
}
/* End of a chunk: publish the heartbeat (anything that counts as work moves it). */
static inline void sk_watch_beat(sk_thread_t *t) {
    if (t->watch_off) return;
    atomic_store_explicit(&t->heartbeat, t->ops + t->warmup_ops + (uint64_t)t->oom_phase, memory_order_relaxed);
}
/* Test hooks, checked once per chunk: a held role idles its chunk away (1: the chunk is spent),
 * a crashing role faults here, inside its step_* frame. */
int32_t sk_watch_hooks(sk_run_t *run, sk_thread_t *t, uint64_t deadline);

/* ---- canonical workloads (engine_workloads.c) ---- */

/* The workload keys of a role config (writes, live_set, handover_every) are consistent. */
bool sk_wl_config_ok(const sk_role_config_t *c);
/* An alloc_free role with a live set: its whole chunk (replaces step_alloc_free's batches). */
int32_t sk_step_live_set(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline);
/* Rewrite block e cfg.writes times before thread t frees it (counts writes, foreign writes). */
void sk_wl_touch(sk_run_t *run, const sk_role_t *r, sk_thread_t *t, const sk_entry_t *e);
/* Drain: reap every live set (held or in a mailbox) at location 192 + role. */
void sk_wl_drain(sk_run_t *run);
/* Destroy: the set arrays themselves (their blocks are gone by then). */
void sk_wl_fini(sk_run_t *run);
/* Role stats: add thread t's workload counters. */
void sk_wl_stats(const sk_thread_t *t, sk_role_stats_t *out);
/* Invariants: every block in a live set is owned (tracked ones live) - SK_INV_IN_FLIGHT_NOT_OWNED. */
void sk_wl_invariants(const sk_run_t *run, uint64_t *counts);
/* Plant SK_INV_IN_FLIGHT_NOT_OWNED in a live set (a run without a producer); 0, or -1 if none. */
int32_t sk_wl_break_in_flight(sk_run_t *run);
/* The drain's reap of one in-flight entry (engine_run.c). */
void sk_run_reap(sk_run_t *run, const sk_entry_t *e, uint32_t loc);
/* Rewrite a block's verified layout in place: header, retire stamp, body pattern (engine_block.c). */
void sk_block_rewrite(const sk_run_t *run, const sk_entry_t *e);
/* Who allocated the block with this serial (a "who" code; 0: unknown) (engine_diag.c). */
uint32_t sk_diag_allocator(const sk_run_t *run, uint64_t serial);

#endif /* SK_ENGINE_INTERNAL_H */
