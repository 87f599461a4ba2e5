/* The benchmark harness (see sk_bench.h). Each loop is written once, always inlined, and
 * instantiated per allocator family with a constant, so every implementation runs the same machine
 * code shape around its own calls and no dispatch sits inside a timed loop. */
#if !defined(_WIN32)

/* RTLD_DEFAULT and dladdr: finding the process's own malloc (see system_allocator below). */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <sys/mman.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mimalloc.h>

#include "sk_bench.h"

#if defined(__GNUC__) || defined(__clang__)
#  define SK_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#  define SK_ALWAYS_INLINE inline
#endif

/* Blocks per timed batch: large enough that the two clock reads around a batch cost well under
 * 0.1 ns per operation, small enough that a batch of big blocks stays within BATCH_BYTES. */
#define MAX_BATCH 1024u
#define MIN_BATCH 16u
#define BATCH_BYTES ((size_t)16 << 20)

/* Cross-thread free: batches in flight between producer and consumer. More than one lets the
 * producer allocate while the consumer frees, as the two ends of a queue do. */
#define XT_RING 4u
#define XT_BATCH 256u

/* Throughput: each thread's working set (a power of two: the slot is picked by masking). */
#define WS_SLOTS 256u
#define WS_MIN_SIZE 16u
#define WS_SIZE_SPAN 64u /* sizes WS_MIN_SIZE .. WS_MIN_SIZE + WS_SIZE_SPAN - 1 = 16..79 */

#define MAX_THREADS 1024u
#define MAX_SIZE ((size_t)1 << 30)

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

/* ---- the harness's own memory ----
 *
 * Slot arrays, hand-over rings and thread records come straight from the OS, not from any allocator under test:
 * taken from mimalloc's heap (as plain calloc here would be, see below), their placement next to
 * mimalloc's own data measurably slowed raw mi_malloc_aligned (2.5 -> 4.5 ns per call) while
 * leaving the glue's path alone, which inverted the cc/mimalloc ratio. mmap memory is
 * page-aligned and shares nothing with the heaps being measured. */

static void *os_alloc(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p; /* zero-filled */
}

static void os_free(void *p, size_t bytes) {
    if (p != NULL) munmap(p, bytes);
}

/* ---- the system allocator ----
 *
 * Inside this library `malloc` is not libc's: the mimalloc static archive we link (the cmeel
 * wheel's) is built with MI_OVERRIDE, so its malloc/free/posix_memalign aliases bind locally and
 * a plain malloc() call here would be mimalloc again. The process's real allocator is looked up
 * at run time instead; our copies are local symbols (--exclude-libs), so RTLD_DEFAULT finds the
 * one every other library in the process uses (glibc's, or a preloaded replacement). */

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);

static malloc_fn sys_malloc;
static free_fn sys_free;
static posix_memalign_fn sys_posix_memalign;
static const char *sys_origin = "unresolved";
static pthread_once_t sys_once = PTHREAD_ONCE_INIT;

/* dlsym returns an object pointer; memcpy is the portable way to make it a function pointer. */
static void *lookup(const char *name, void *fn_out, size_t fn_size) {
    void *sym = dlsym(RTLD_DEFAULT, name);
    if (sym != NULL) memcpy(fn_out, &sym, fn_size);
    return sym;
}

static void resolve_system(void) {
    void *m = lookup("malloc", &sys_malloc, sizeof sys_malloc);
    void *f = lookup("free", &sys_free, sizeof sys_free);
    void *a = lookup("posix_memalign", &sys_posix_memalign, sizeof sys_posix_memalign);
    if (m == NULL || f == NULL || a == NULL) {
        sys_malloc = NULL;
        sys_free = NULL;
        sys_posix_memalign = NULL;
        return;
    }
    Dl_info info;
    if (dladdr(m, &info) != 0 && info.dli_fname != NULL) sys_origin = info.dli_fname;
}

static int system_available(void) {
    pthread_once(&sys_once, resolve_system);
    return sys_malloc != NULL;
}

/* ---- the allocators, selected by a compile-time constant after inlining ---- */

static SK_ALWAYS_INLINE void *impl_alloc(sk_bench_impl_t family, size_t size) {
    switch (family) {
    case SK_BENCH_CC:
        return cc_alloc(size);
    case SK_BENCH_MIMALLOC:
        return mi_malloc(size);
    default:
        return sys_malloc(size);
    }
}

static SK_ALWAYS_INLINE void *impl_alloc_aligned(sk_bench_impl_t family, size_t size,
                                                 size_t alignment) {
    switch (family) {
    case SK_BENCH_CC:
        return cc_alloc_aligned(size, alignment);
    case SK_BENCH_MIMALLOC:
        return mi_malloc_aligned(size, alignment);
    default: {
        void *p = NULL;
        return sys_posix_memalign(&p, alignment, size) == 0 ? p : NULL;
    }
    }
}

static SK_ALWAYS_INLINE void impl_free(sk_bench_impl_t family, void *p, size_t size) {
    switch (family) {
    case SK_BENCH_CC:
        cc_free(p, size);
        break;
    case SK_BENCH_MIMALLOC:
        mi_free(p);
        break;
    default:
        sys_free(p);
        break;
    }
}

/* cc and cc+stats run the same code; only the process-wide statistics switch differs. */
static sk_bench_impl_t family_of(sk_bench_impl_t impl) {
    return impl == SK_BENCH_CC_STATS ? SK_BENCH_CC : impl;
}

/* ---- evidence of concurrency ---- */

typedef struct overlap {
    _Atomic int64_t inside;
    _Atomic int64_t max_inside;
} overlap_t;

static void overlap_enter(overlap_t *o) {
    int64_t now = atomic_fetch_add(&o->inside, 1) + 1;
    int64_t seen = atomic_load(&o->max_inside);
    while (now > seen && !atomic_compare_exchange_weak(&o->max_inside, &seen, now)) {
    }
}

static void overlap_leave(overlap_t *o) { atomic_fetch_sub(&o->inside, 1); }

/* ---- start gate: a barrier the launching thread can also call off ---- */

/* Workers arrive when ready (warm-up done) and wait; the launcher opens the gate once all the
 * threads it managed to start have arrived, so timed loops begin together. Unlike a
 * pthread_barrier, it still releases everyone when a later pthread_create failed. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t arrived;
    int open;
    int abort;
} gate_t;

static void gate_init(gate_t *g) {
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->arrived = 0;
    g->open = 0;
    g->abort = 0;
}

static void gate_destroy(gate_t *g) {
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* Returns 1 to run, 0 when the launcher called the run off. */
static int gate_pass(gate_t *g) {
    pthread_mutex_lock(&g->mu);
    g->arrived++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    int go = !g->abort;
    pthread_mutex_unlock(&g->mu);
    return go;
}

static void gate_open(gate_t *g, uint32_t parties, int abort) {
    pthread_mutex_lock(&g->mu);
    while (g->arrived < parties) pthread_cond_wait(&g->cv, &g->mu);
    g->open = 1;
    g->abort = abort;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* ---- latency: alloc, free, aligned_alloc (one thread) ---- */

typedef struct latency_job {
    const sk_bench_spec_t *spec;
    void *volatile *slots; /* volatile: every allocation's result is really stored */
    size_t batch;
    int64_t elapsed_ns;
    uint64_t failures;
} latency_job_t;

/* Times `ops` operations in batches; adds to job->elapsed_ns only when `timed`. */
static SK_ALWAYS_INLINE void latency_loop(sk_bench_impl_t family, sk_bench_op_t op,
                                          latency_job_t *job, uint64_t ops, int timed) {
    const size_t size = job->spec->size;
    const size_t alignment = job->spec->alignment;
    void *volatile *slots = job->slots;
    uint64_t done = 0;
    while (done < ops) {
        size_t n = (ops - done < job->batch) ? (size_t)(ops - done) : job->batch;
        int64_t t0, t1;
        if (op == SK_BENCH_FREE) {
            for (size_t i = 0; i < n; i++) slots[i] = impl_alloc(family, size);
            for (size_t i = 0; i < n; i++) job->failures += slots[i] == NULL;
            t0 = now_ns();
            for (size_t i = 0; i < n; i++) impl_free(family, slots[i], size);
            t1 = now_ns();
        } else {
            t0 = now_ns();
            if (op == SK_BENCH_ALIGNED_ALLOC) {
                for (size_t i = 0; i < n; i++) slots[i] = impl_alloc_aligned(family, size, alignment);
            } else {
                for (size_t i = 0; i < n; i++) slots[i] = impl_alloc(family, size);
            }
            t1 = now_ns();
            for (size_t i = 0; i < n; i++) {
                job->failures += slots[i] == NULL;
                impl_free(family, slots[i], size);
            }
        }
        if (timed) job->elapsed_ns += t1 - t0;
        done += n;
    }
}

#define LATENCY_FOR_OP(FAMILY, op, job, ops, timed)                                 \
    do {                                                                            \
        switch (op) {                                                               \
        case SK_BENCH_FREE:                                                         \
            latency_loop(FAMILY, SK_BENCH_FREE, job, ops, timed);                   \
            break;                                                                  \
        case SK_BENCH_ALIGNED_ALLOC:                                                \
            latency_loop(FAMILY, SK_BENCH_ALIGNED_ALLOC, job, ops, timed);          \
            break;                                                                  \
        default:                                                                    \
            latency_loop(FAMILY, SK_BENCH_ALLOC, job, ops, timed);                  \
            break;                                                                  \
        }                                                                           \
    } while (0)

static void latency_dispatch(latency_job_t *job, uint64_t ops, int timed) {
    sk_bench_op_t op = job->spec->op;
    switch (family_of(job->spec->impl)) {
    case SK_BENCH_CC:
        LATENCY_FOR_OP(SK_BENCH_CC, op, job, ops, timed);
        break;
    case SK_BENCH_MIMALLOC:
        LATENCY_FOR_OP(SK_BENCH_MIMALLOC, op, job, ops, timed);
        break;
    default:
        LATENCY_FOR_OP(SK_BENCH_SYSTEM, op, job, ops, timed);
        break;
    }
}

/* Runs on a fresh thread so every implementation starts from the same state: no interpreter
 * allocations in the heap, no leftovers from the previous sample. */
static void *latency_thread(void *arg) {
    latency_job_t *job = (latency_job_t *)arg;
    latency_dispatch(job, job->spec->warmup_ops, 0);
    job->elapsed_ns = 0;
    job->failures = 0;
    latency_dispatch(job, job->spec->ops, 1);
    return NULL;
}

static int run_latency(const sk_bench_spec_t *spec, sk_bench_result_t *out) {
    latency_job_t job;
    memset(&job, 0, sizeof job);
    job.spec = spec;
    size_t batch = BATCH_BYTES / spec->size;
    if (batch > MAX_BATCH) batch = MAX_BATCH;
    if (batch < MIN_BATCH) batch = MIN_BATCH;
    job.batch = batch;
    size_t slot_bytes = batch * sizeof(void *);
    job.slots = (void *volatile *)os_alloc(slot_bytes);
    if (job.slots == NULL) return ENOMEM;
    pthread_t t;
    int rc = pthread_create(&t, NULL, latency_thread, &job);
    if (rc == 0) pthread_join(t, NULL);
    os_free((void *)job.slots, slot_bytes);
    if (rc != 0) return rc;
    out->ops = spec->ops;
    out->elapsed_ns = job.elapsed_ns;
    out->failures = job.failures;
    out->max_inside = 1;
    return 0;
}

/* ---- cross-thread free: producer allocates, consumer frees (timed) ---- */

typedef struct xt_slot {
    _Alignas(64) _Atomic int full; /* own line: the hand-over flag must not share with the data */
    size_t count;
    void **blocks;
} xt_slot_t;

typedef struct xt_job {
    const sk_bench_spec_t *spec;
    xt_slot_t ring[XT_RING];
    uint64_t warm_batches;
    uint64_t batches;      /* warm-up + timed */
    gate_t start;
    overlap_t overlap;
    _Atomic int consumed; /* the consumer has freed every block */
    int64_t elapsed_ns;
    uint64_t failures;
} xt_job_t;

/* Spin briefly, then yield: on a loaded 2-core machine the other side may not be running. */
static void wait_for(_Atomic int *flag, int want) {
    unsigned spins = 0;
    while (atomic_load_explicit(flag, memory_order_acquire) != want) {
        if (++spins > 64) sched_yield();
    }
}

static size_t xt_count(const xt_job_t *job, uint64_t b) {
    if (b < job->warm_batches) return XT_BATCH;
    uint64_t first = (b - job->warm_batches) * XT_BATCH;
    uint64_t left = job->spec->ops - first;
    return left < XT_BATCH ? (size_t)left : XT_BATCH;
}

static SK_ALWAYS_INLINE void xt_produce(sk_bench_impl_t family, xt_job_t *job) {
    const size_t size = job->spec->size;
    for (uint64_t b = 0; b < job->batches; b++) {
        xt_slot_t *s = &job->ring[b % XT_RING];
        wait_for(&s->full, 0);
        size_t n = xt_count(job, b);
        void *volatile *blocks = (void *volatile *)s->blocks;
        for (size_t i = 0; i < n; i++) blocks[i] = impl_alloc(family, size);
        s->count = n;
        atomic_store_explicit(&s->full, 1, memory_order_release);
    }
}

static SK_ALWAYS_INLINE void xt_consume(sk_bench_impl_t family, xt_job_t *job) {
    const size_t size = job->spec->size;
    for (uint64_t b = 0; b < job->batches; b++) {
        xt_slot_t *s = &job->ring[b % XT_RING];
        wait_for(&s->full, 1);
        size_t n = s->count;
        void *volatile *blocks = (void *volatile *)s->blocks;
        for (size_t i = 0; i < n; i++) job->failures += blocks[i] == NULL;
        int64_t t0 = now_ns();
        for (size_t i = 0; i < n; i++) impl_free(family, blocks[i], size);
        int64_t t1 = now_ns();
        if (b >= job->warm_batches) job->elapsed_ns += t1 - t0;
        atomic_store_explicit(&s->full, 0, memory_order_release);
    }
}

static void *xt_producer_thread(void *arg) {
    xt_job_t *job = (xt_job_t *)arg;
    if (!gate_pass(&job->start)) return NULL;
    overlap_enter(&job->overlap);
    switch (family_of(job->spec->impl)) {
    case SK_BENCH_CC: xt_produce(SK_BENCH_CC, job); break;
    case SK_BENCH_MIMALLOC: xt_produce(SK_BENCH_MIMALLOC, job); break;
    default: xt_produce(SK_BENCH_SYSTEM, job); break;
    }
    overlap_leave(&job->overlap);
    /* Outlive the consumer's last frees. A producer that exits first leaves its pages abandoned
     * with remote frees still pending, and whichever later thread reclaims them allocates more
     * slowly: in mimalloc 3.4 that slowed the next 64 B alloc rows by ~40 % (2.2 -> 3.1 ns per
     * call after one cross-thread sample), for cc and mimalloc alike. Waiting here lets the
     * owner's exit collect those frees and release its pages empty. */
    wait_for(&job->consumed, 1);
    return NULL;
}

static void *xt_consumer_thread(void *arg) {
    xt_job_t *job = (xt_job_t *)arg;
    if (!gate_pass(&job->start)) return NULL;
    overlap_enter(&job->overlap);
    switch (family_of(job->spec->impl)) {
    case SK_BENCH_CC: xt_consume(SK_BENCH_CC, job); break;
    case SK_BENCH_MIMALLOC: xt_consume(SK_BENCH_MIMALLOC, job); break;
    default: xt_consume(SK_BENCH_SYSTEM, job); break;
    }
    overlap_leave(&job->overlap);
    atomic_store_explicit(&job->consumed, 1, memory_order_release);
    return NULL;
}

static int run_cross_thread(const sk_bench_spec_t *spec, sk_bench_result_t *out) {
    size_t block_bytes = XT_RING * XT_BATCH * sizeof(void *);
    xt_job_t *job = (xt_job_t *)os_alloc(sizeof *job);
    void **blocks = (void **)os_alloc(block_bytes);
    if (job == NULL || blocks == NULL) {
        os_free(job, sizeof *job);
        os_free(blocks, block_bytes);
        return ENOMEM;
    }
    int rc = 0;
    job->spec = spec;
    job->warm_batches = (spec->warmup_ops + XT_BATCH - 1) / XT_BATCH;
    job->batches = job->warm_batches + (spec->ops + XT_BATCH - 1) / XT_BATCH;
    atomic_init(&job->consumed, 0);
    for (size_t i = 0; i < XT_RING; i++) {
        atomic_init(&job->ring[i].full, 0);
        job->ring[i].blocks = blocks + i * XT_BATCH;
    }
    {
        gate_init(&job->start);
        pthread_t tid[2];
        void *(*body[2])(void *) = {xt_consumer_thread, xt_producer_thread};
        uint32_t started = 0;
        for (; started < 2; started++) {
            rc = pthread_create(&tid[started], NULL, body[started], job);
            if (rc != 0) break;
        }
        gate_open(&job->start, started, rc != 0);
        for (uint32_t i = 0; i < started; i++) pthread_join(tid[i], NULL);
        gate_destroy(&job->start);
    }
    if (rc == 0) {
        out->ops = spec->ops;
        out->elapsed_ns = job->elapsed_ns;
        out->failures = job->failures;
        out->max_inside = atomic_load(&job->overlap.max_inside);
    }
    os_free(blocks, block_bytes);
    os_free(job, sizeof *job);
    return rc;
}

/* ---- throughput: random replacement in a per-thread working set ---- */

typedef struct tp_job {
    const sk_bench_spec_t *spec;
    gate_t start;
    overlap_t overlap;
    _Atomic int stop; /* set by the launcher when the measurement window closes */
} tp_job_t;

typedef struct tp_worker {
    tp_job_t *job;
    uint64_t seed;
    int64_t t0, t1;
    uint64_t ops;
    uint64_t failures;
} tp_worker_t;

/* Replacements between two looks at the stop flag: enough that the (cached, read-only until the
 * end) flag costs nothing measurable, few enough that threads stop within a microsecond or so. */
#define TP_CHUNK 64u

static inline uint64_t xorshift64(uint64_t x) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static SK_ALWAYS_INLINE uint64_t churn(sk_bench_impl_t family, void *volatile *slots,
                                       size_t *sizes, uint64_t *rng, uint64_t n) {
    uint64_t failures = 0;
    uint64_t x = *rng;
    for (uint64_t i = 0; i < n; i++) {
        x = xorshift64(x);
        size_t idx = (size_t)(x & (WS_SLOTS - 1));
        size_t size = WS_MIN_SIZE + (size_t)((x >> 8) & (WS_SIZE_SPAN - 1));
        impl_free(family, slots[idx], sizes[idx]);
        void *p = impl_alloc(family, size);
        failures += p == NULL;
        slots[idx] = p;
        sizes[idx] = size;
    }
    *rng = x;
    return failures;
}

static SK_ALWAYS_INLINE void tp_work(sk_bench_impl_t family, tp_worker_t *w) {
    tp_job_t *job = w->job;
    void *volatile slots[WS_SLOTS];
    size_t sizes[WS_SLOTS];
    uint64_t rng = w->seed;
    /* Warm-up, untimed: fill the working set, then churn as the timed part will. */
    for (size_t i = 0; i < WS_SLOTS; i++) {
        rng = xorshift64(rng);
        sizes[i] = WS_MIN_SIZE + (size_t)(rng & (WS_SIZE_SPAN - 1));
        slots[i] = impl_alloc(family, sizes[i]);
    }
    (void)churn(family, slots, sizes, &rng, job->spec->warmup_ops);
    if (gate_pass(&job->start)) {
        overlap_enter(&job->overlap);
        uint64_t ops = 0, failures = 0;
        w->t0 = now_ns();
        do {
            failures += churn(family, slots, sizes, &rng, TP_CHUNK);
            ops += TP_CHUNK;
        } while (!atomic_load_explicit(&job->stop, memory_order_relaxed));
        w->t1 = now_ns();
        overlap_leave(&job->overlap);
        w->ops = ops;
        w->failures = failures;
    }
    for (size_t i = 0; i < WS_SLOTS; i++) impl_free(family, slots[i], sizes[i]);
}

static void *tp_thread(void *arg) {
    tp_worker_t *w = (tp_worker_t *)arg;
    switch (family_of(w->job->spec->impl)) {
    case SK_BENCH_CC: tp_work(SK_BENCH_CC, w); break;
    case SK_BENCH_MIMALLOC: tp_work(SK_BENCH_MIMALLOC, w); break;
    default: tp_work(SK_BENCH_SYSTEM, w); break;
    }
    return NULL;
}

static void sleep_ms(uint32_t ms) {
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int run_throughput(const sk_bench_spec_t *spec, sk_bench_result_t *out) {
    uint32_t nthreads = spec->threads;
    size_t worker_bytes = nthreads * sizeof(tp_worker_t), tid_bytes = nthreads * sizeof(pthread_t);
    tp_job_t *job = (tp_job_t *)os_alloc(sizeof *job);
    tp_worker_t *workers = (tp_worker_t *)os_alloc(worker_bytes);
    pthread_t *tids = (pthread_t *)os_alloc(tid_bytes);
    if (job == NULL || workers == NULL || tids == NULL) {
        os_free(job, sizeof *job);
        os_free(workers, worker_bytes);
        os_free(tids, tid_bytes);
        return ENOMEM;
    }
    job->spec = spec;
    atomic_init(&job->stop, 0);
    gate_init(&job->start);
    int rc = 0;
    uint32_t started = 0;
    for (; started < nthreads; started++) {
        workers[started].job = job;
        /* xorshift64 must not start at 0; the odd multipliers keep threads' streams apart. */
        uint64_t seed = (spec->seed + 1) * 0x9E3779B97F4A7C15ull + started * 0xD1B54A32D192ED03ull;
        workers[started].seed = seed == 0 ? 1 : seed;
        rc = pthread_create(&tids[started], NULL, tp_thread, &workers[started]);
        if (rc != 0) break;
    }
    gate_open(&job->start, started, rc != 0);
    /* The window: the launcher sleeps (it takes no core from the workers), then closes it. */
    if (rc == 0) sleep_ms(spec->duration_ms);
    atomic_store_explicit(&job->stop, 1, memory_order_relaxed);
    for (uint32_t i = 0; i < started; i++) pthread_join(tids[i], NULL);
    gate_destroy(&job->start);
    if (rc == 0) {
        int64_t first = workers[0].t0, last = workers[0].t1;
        uint64_t ops = 0, failures = 0;
        for (uint32_t i = 0; i < nthreads; i++) {
            if (workers[i].t0 < first) first = workers[i].t0;
            if (workers[i].t1 > last) last = workers[i].t1;
            ops += workers[i].ops;
            failures += workers[i].failures;
        }
        out->ops = ops;
        out->elapsed_ns = last - first;
        out->failures = failures;
        out->max_inside = atomic_load(&job->overlap.max_inside);
    }
    os_free(job, sizeof *job);
    os_free(workers, worker_bytes);
    os_free(tids, tid_bytes);
    return rc;
}

/* ---- entry points ---- */

static int spec_is_valid(const sk_bench_spec_t *spec) {
    if ((unsigned)spec->impl > (unsigned)SK_BENCH_SYSTEM) return 0;
    if (spec->op != SK_BENCH_THROUGHPUT && spec->ops == 0) return 0;
    switch (spec->op) {
    case SK_BENCH_ALLOC:
    case SK_BENCH_FREE:
        return spec->threads == 1 && spec->size > 0 && spec->size <= MAX_SIZE;
    case SK_BENCH_ALIGNED_ALLOC:
        return spec->threads == 1 && spec->size > 0 && spec->size <= MAX_SIZE &&
               spec->alignment >= sizeof(void *) && (spec->alignment & (spec->alignment - 1)) == 0 &&
               spec->alignment <= MAX_SIZE;
    case SK_BENCH_CROSS_THREAD_FREE:
        return spec->threads == 2 && spec->size > 0 && spec->size <= MAX_SIZE;
    case SK_BENCH_THROUGHPUT:
        return spec->threads >= 1 && spec->threads <= MAX_THREADS && spec->duration_ms >= 1 &&
               spec->duration_ms <= 600000u;
    default:
        return 0;
    }
}

int sk_bench_run(const sk_bench_spec_t *spec, sk_bench_result_t *out) {
    if (out == NULL || spec == NULL) return EINVAL;
    memset(out, 0, sizeof *out);
    if (!spec_is_valid(spec)) return EINVAL;
    if (spec->impl == SK_BENCH_SYSTEM && !system_available()) return ENOSYS;

    bool stats_before = cc_alloc_stats_enabled();
    if (spec->impl == SK_BENCH_CC) cc_alloc_stats_enable(false);
    if (spec->impl == SK_BENCH_CC_STATS) cc_alloc_stats_enable(true);

    int rc;
    switch (spec->op) {
    case SK_BENCH_CROSS_THREAD_FREE:
        rc = run_cross_thread(spec, out);
        break;
    case SK_BENCH_THROUGHPUT:
        rc = run_throughput(spec, out);
        break;
    default:
        rc = run_latency(spec, out);
        break;
    }

    cc_alloc_stats_enable(stats_before);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    /* A clock too coarse to see the loop would give infinities; one tick is the honest floor. */
    if (out->elapsed_ns <= 0) out->elapsed_ns = 1;
    out->ns_per_op = (double)out->elapsed_ns / (double)out->ops;
    out->ops_per_s = (double)out->ops * 1e9 / (double)out->elapsed_ns;
    return 0;
}

const char *sk_bench_system_allocator(void) {
    system_available();
    return sys_origin;
}

#else /* _WIN32 */

/* The harness is built on POSIX threads, mmap, dlsym and CLOCK_MONOTONIC and has not been ported
 * to Windows. The library must still build there (the conda package targets win-64), so the
 * entry points exist and say so: ENOSYS, which `stresskit bench` reports in one line. */
#include <errno.h>
#include <string.h>

#include "sk_bench.h"

int sk_bench_run(const sk_bench_spec_t *spec, sk_bench_result_t *out) {
    (void)spec;
    if (out != NULL) memset(out, 0, sizeof *out);
    return ENOSYS;
}

const char *sk_bench_system_allocator(void) { return "unsupported on Windows"; }

#endif /* _WIN32 */

const char *sk_bench_compiler(void) {
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "GCC " __VERSION__;
#elif defined(_MSC_VER)
#  define SK_STR2(x) #x
#  define SK_STR(x) SK_STR2(x)
    return "MSVC " SK_STR(_MSC_FULL_VER);
#else
    return "unknown C compiler";
#endif
}

bool sk_bench_optimized(void) {
#if defined(__OPTIMIZE__) || (defined(_MSC_VER) && defined(NDEBUG))
    return true;
#else
    return false;
#endif
}
