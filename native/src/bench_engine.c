/* The engine against a minimal hand-written loop of the same shape (see sk_bench_engine.h). Kept
 * apart from bench.c: it measures the engine, bench.c measures allocators. */
#if !defined(_WIN32)

#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "engine_internal.h" /* sk_backoff */
#include "sk_bench_engine.h"

#define SPSC_MAX_CAPACITY ((uint64_t)1 << 24)

static int64_t spsc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

/* The loop waits as the engine does (sk_backoff: a short spin, then yield), so the ratio measures
 * the engine's work per block, not a different waiting policy. */
static void spsc_relax(uint32_t *spins) { sk_backoff((*spins)++); }

/* The identity a loop block carries in its first word. */
static inline uint64_t spsc_word(uint64_t seed, uint64_t i) {
    uint64_t x = seed ^ (i * 0x9E3779B97F4A7C15ull);
    return x ^ (x >> 31);
}

/* ---- the hand-written loop: a Lamport ring of pointers, one writer per index ---- */

typedef struct spsc_loop {
    alignas(64) _Atomic uint64_t head; /* producer's */
    alignas(64) _Atomic uint64_t tail; /* consumer's */
    alignas(64) uint64_t mask;
    void **slots;
    uint64_t total, warmup, size, seed;
    _Atomic int failed;
    _Atomic int64_t inside, max_inside;
    uint64_t bad, empty_retries, full_retries;
    int64_t t_first, t_last;
} spsc_loop_t;

static void spsc_enter(_Atomic int64_t *inside, _Atomic int64_t *max_inside) {
    int64_t n = atomic_fetch_add(inside, 1) + 1, seen = atomic_load(max_inside);
    while (n > seen && !atomic_compare_exchange_weak(max_inside, &seen, n)) {
    }
}

static void *spsc_loop_producer(void *arg) {
    spsc_loop_t *l = arg;
    spsc_enter(&l->inside, &l->max_inside);
    uint64_t head = 0, capacity = l->mask + 1;
    for (uint64_t i = 0; i < l->total; i++) {
        uint64_t *p = cc_alloc(l->size);
        if (p == NULL) {
            atomic_store(&l->failed, 1);
            break;
        }
        *p = spsc_word(l->seed, i);
        uint32_t spins = 0;
        while (head - atomic_load_explicit(&l->tail, memory_order_acquire) == capacity) {
            if (atomic_load_explicit(&l->failed, memory_order_relaxed)) goto out;
            l->full_retries++;
            spsc_relax(&spins);
        }
        l->slots[head & l->mask] = p;
        atomic_store_explicit(&l->head, ++head, memory_order_release);
    }
out:
    atomic_fetch_sub(&l->inside, 1);
    return NULL;
}

static void *spsc_loop_consumer(void *arg) {
    spsc_loop_t *l = arg;
    spsc_enter(&l->inside, &l->max_inside);
    uint64_t tail = 0;
    for (uint64_t i = 0; i < l->total; i++) {
        uint32_t spins = 0;
        while (atomic_load_explicit(&l->head, memory_order_acquire) == tail) {
            if (atomic_load_explicit(&l->failed, memory_order_relaxed)) goto out;
            if (i >= l->warmup) l->empty_retries++;
            spsc_relax(&spins);
        }
        if (i == l->warmup) l->t_first = spsc_now_ns();
        uint64_t *p = l->slots[tail & l->mask];
        atomic_store_explicit(&l->tail, ++tail, memory_order_release);
        if (*p != spsc_word(l->seed, i)) l->bad++;
        cc_free(p, l->size);
    }
    l->t_last = spsc_now_ns();
out:
    atomic_fetch_sub(&l->inside, 1);
    return NULL;
}

static int run_loop(const sk_spsc_spec_t *spec, sk_spsc_result_t *out) {
    size_t ring_bytes = spec->capacity * sizeof(void *);
    /* the harness's own memory from the OS, as in bench.c: nothing next to the heap under test */
    spsc_loop_t *l = mmap(NULL, sizeof *l + ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (l == MAP_FAILED) return ENOMEM;
    memset(l, 0, sizeof *l);
    l->slots = (void **)(l + 1);
    l->mask = spec->capacity - 1;
    l->total = spec->warmup_blocks + spec->blocks;
    l->warmup = spec->warmup_blocks;
    l->size = spec->size;
    l->seed = spec->seed;
    pthread_t prod, cons;
    int rc = pthread_create(&cons, NULL, spsc_loop_consumer, l);
    if (rc == 0) {
        rc = pthread_create(&prod, NULL, spsc_loop_producer, l);
        if (rc != 0) atomic_store(&l->failed, 1);
        else pthread_join(prod, NULL);
        pthread_join(cons, NULL);
    }
    if (rc == 0 && atomic_load(&l->failed)) rc = EIO;
    if (rc == 0) {
        out->blocks = spec->blocks;
        out->elapsed_ns = l->t_last - l->t_first;
        out->bad_blocks = l->bad;
        out->empty_retries = l->empty_retries;
        out->full_retries = l->full_retries;
        out->max_inside = atomic_load(&l->max_inside);
    }
    munmap(l, sizeof *l + ring_bytes);
    return rc;
}

/* ---- the engine: two roles, two pthreads calling sk_role_step as stresskit's threads do ---- */

typedef struct spsc_role_thread {
    sk_run_t *run;
    uint32_t role;
    uint64_t budget_ns;
    int32_t rc;
} spsc_role_thread_t;

static void *spsc_engine_thread(void *arg) {
    spsc_role_thread_t *t = arg;
    do t->rc = sk_role_step(t->run, t->role, 0, t->budget_ns);
    while (t->rc == 0);
    return NULL;
}

static int build_engine_run(const sk_spsc_spec_t *spec, sk_run_t *run) {
    if (sk_run_checks_off(run, spec->checks_off) != 0) return EINVAL;
    int32_t q = sk_run_add_queue(run, spec->capacity);
    if (q < 0) return EINVAL;
    sk_role_config_t c;
    memset(&c, 0, sizeof c);
    c.kind = SK_KIND_PLAIN;
    c.threads = 1;
    c.batch = 1;
    c.size_kind = SK_SIZE_FIXED;
    c.size_count = 1;
    c.size_values[0] = spec->size;
    c.action = SK_ACT_PRODUCE;
    c.inbox = -1;
    c.outbox = q;
    if (sk_run_add_role(run, &c) != 0) return EINVAL;
    c.action = SK_ACT_CONSUME;
    c.inbox = q;
    c.outbox = -1;
    if (sk_run_add_role(run, &c) != 1) return EINVAL;
    return sk_run_prepare(run, spec->blocks, spec->warmup_blocks) == 0 ? 0 : ENOMEM;
}

static int run_engine(const sk_spsc_spec_t *spec, sk_spsc_result_t *out) {
    sk_run_t *run = sk_run_create(spec->seed, spec->latency_sample_every);
    if (run == NULL) return ENOMEM;
    int rc = build_engine_run(spec, run);
    spsc_role_thread_t threads[2] = {{run, 0, spec->budget_ns, 0}, {run, 1, spec->budget_ns, 0}};
    pthread_t ids[2];
    int started = 0;
    if (rc == 0) {
        sk_run_start(run);
        for (; started < 2; started++) {
            rc = pthread_create(&ids[started], NULL, spsc_engine_thread, &threads[started]);
            if (rc != 0) {
                sk_run_abort(run); /* the started thread leaves its start line at once */
                break;
            }
        }
        for (int i = 0; i < started; i++) pthread_join(ids[i], NULL);
    }
    if (rc == 0 && (threads[0].rc != 1 || threads[1].rc != 1)) rc = EIO;
    sk_role_stats_t consumer, producer;
    if (rc == 0 && (sk_run_role_stats(run, 1, &consumer) != 0 || sk_run_role_stats(run, 0, &producer) != 0)) rc = EIO;
    if (rc == 0 && consumer.ops != spec->blocks) rc = EIO;
    if (rc == 0) {
        int64_t checks_ns = 0;
        if (spec->invariants) {
            uint64_t counts[SK_INV_COUNT];
            int64_t t0 = spsc_now_ns();
            uint64_t violations = sk_run_invariants(run, 0, counts);
            sk_run_drain(run);
            violations += sk_run_invariants(run, 1, counts);
            checks_ns = spsc_now_ns() - t0;
            if (violations != 0) rc = EIO;
        }
        sk_run_totals_t totals;
        sk_run_totals(run, &totals);
        out->blocks = consumer.ops;
        out->elapsed_ns = (int64_t)consumer.elapsed_ns + checks_ns;
        out->bad_blocks = consumer.canary_failures + consumer.double_handoffs;
        out->empty_retries = consumer.empty_retries;
        out->full_retries = producer.full_retries;
        out->max_inside = totals.max_threads_inside;
    }
    sk_run_destroy(run);
    return rc;
}

static int spec_ok(const sk_spsc_spec_t *s) {
    return (s->mode == SK_SPSC_LOOP || s->mode == SK_SPSC_ENGINE) && (s->checks_off & ~(uint32_t)SK_OFF_ALL) == 0 &&
           s->blocks >= 1 && s->size >= 16 && s->size <= 4096 && s->capacity >= 2 &&
           s->capacity <= SPSC_MAX_CAPACITY && (s->capacity & (s->capacity - 1)) == 0 &&
           s->latency_sample_every >= 1 && s->budget_ns >= 1;
}

int sk_bench_spsc(const sk_spsc_spec_t *spec, sk_spsc_result_t *out) {
    if (spec == NULL || out == NULL) return EINVAL;
    memset(out, 0, sizeof *out);
    if (!spec_ok(spec)) return EINVAL;
    bool stats_were_on = cc_alloc_stats_enabled();
    cc_alloc_stats_enable(false); /* the production fast path, for both */
    int rc = spec->mode == SK_SPSC_LOOP ? run_loop(spec, out) : run_engine(spec, out);
    cc_alloc_stats_enable(stats_were_on);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    if (out->elapsed_ns <= 0) out->elapsed_ns = 1;
    out->ns_per_block = (double)out->elapsed_ns / (double)out->blocks;
    out->blocks_per_s = (double)out->blocks * 1e9 / (double)out->elapsed_ns;
    return 0;
}

#else /* _WIN32: the harness is POSIX-only, as bench.c */

#include <errno.h>
#include <string.h>

#include "sk_bench_engine.h"

int sk_bench_spsc(const sk_spsc_spec_t *spec, sk_spsc_result_t *out) {
    (void)spec;
    if (out != NULL) memset(out, 0, sizeof *out);
    return ENOSYS;
}

#endif
