/* A scenario's plan run by the engine over the REAL glue (statistics on), from plain pthreads, for
 * sanitizer builds (tests/engine/test_sanitized_scenarios.py). Reads the plan from stdin:
 *   seed S / ops N / warmup N / sample N / queue CAPACITY (one line per queue, in index order)
 *   role ACTION KIND THREADS INBOX OUTBOX BATCH ALIGNMENT UNSIZED SIZE_KIND EPOCH_EVERY
 *        GRACE_EPOCHS GRACE_NS EDGE_PROBES CALLOC_COUNT N V1 .. VN
 *   workload WRITES LIVE_SET HANDOVER_EVERY (optional, for the role just read)
 * then checks the run: nothing leaked or damaged, no contract violation, and the glue's books
 * equal the engine's ledger. Prints "scenario_driver: ok" and exits 0, or what differed. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sk_engine.h"

typedef struct {
    sk_run_t *run;
    uint32_t role, thread;
} job_t;

static void *drive(void *arg) {
    job_t *j = arg;
    while (sk_role_step(j->run, j->role, j->thread, 5000000) == 0) {
    }
    return NULL;
}

enum { MAX_JOBS = 1024 };

/* The watchdog's reads, as the Python conductor makes them, while the role threads run: the
 * sanitizer must see them race with nothing. */
static atomic_bool watch_done;

static void *watch(void *arg) {
    sk_run_t *run = arg;
    static uint32_t states[MAX_JOBS];
    static uint64_t beats[MAX_JOBS];
    struct timespec nap = {0, 1000000};
    while (!atomic_load(&watch_done)) {
        sk_run_thread_states(run, states, beats, MAX_JOBS);
        nanosleep(&nap, NULL);
    }
    return NULL;
}

int main(void) {
    unsigned long long seed = 1, ops = 10000, warmup = 0, sample = 64;
    sk_role_config_t roles[SK_MAX_ROLES];
    unsigned long long queues[SK_MAX_QUEUES];
    uint32_t nroles = 0, nqueues = 0;
    char word[32];
    while (scanf("%31s", word) == 1) {
        if (strcmp(word, "seed") == 0 && scanf("%llu", &seed) == 1) continue;
        if (strcmp(word, "ops") == 0 && scanf("%llu", &ops) == 1) continue;
        if (strcmp(word, "warmup") == 0 && scanf("%llu", &warmup) == 1) continue;
        if (strcmp(word, "sample") == 0 && scanf("%llu", &sample) == 1) continue;
        if (strcmp(word, "queue") == 0 && nqueues < SK_MAX_QUEUES && scanf("%llu", &queues[nqueues]) == 1) {
            nqueues++;
            continue;
        }
        if (strcmp(word, "role") == 0 && nroles < SK_MAX_ROLES) {
            sk_role_config_t *c = &roles[nroles];
            memset(c, 0, sizeof *c);
            unsigned long long v[11];
            int a[5];
            unsigned n = 0;
            if (scanf("%d %d %d %d %d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %u", &a[0], &a[1], &a[2], &a[3], &a[4],
                      &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &n) != 16 || n > SK_SIZE_MAX_VALUES) {
                fprintf(stderr, "scenario_driver: bad role line\n");
                return 2;
            }
            c->action = a[0], c->kind = a[1], c->threads = (uint32_t)a[2], c->inbox = a[3], c->outbox = a[4];
            c->batch = v[0], c->alignment = v[1], c->free_unsized = (uint32_t)v[2], c->size_kind = (int32_t)v[3];
            c->epoch_every = v[4], c->grace_epochs = v[5], c->grace_ns = v[6], c->edge_probe_every = v[7];
            c->calloc_count_max = v[8];
            (void)v[9];
            c->size_count = n;
            for (unsigned i = 0; i < n; i++) {
                unsigned long long x;
                if (scanf("%llu", &x) != 1) return 2;
                c->size_values[i] = x;
            }
            nroles++;
            continue;
        }
        if (strcmp(word, "workload") == 0 && nroles > 0) {
            sk_role_config_t *c = &roles[nroles - 1];
            unsigned long long w[3];
            if (scanf("%llu %llu %llu", &w[0], &w[1], &w[2]) != 3) return 2;
            c->writes = w[0], c->live_set = w[1], c->handover_every = w[2];
            continue;
        }
        fprintf(stderr, "scenario_driver: unknown line '%s'\n", word);
        return 2;
    }

    cc_alloc_stats_enable(true);
    cc_alloc_stats_reset();
    sk_run_t *run = sk_run_create(seed, (uint32_t)sample);
    for (uint32_t q = 0; q < nqueues; q++)
        if (sk_run_add_queue(run, queues[q]) < 0) return 2;
    for (uint32_t r = 0; r < nroles; r++)
        if (sk_run_add_role(run, &roles[r]) < 0) {
            fprintf(stderr, "scenario_driver: the engine rejected role %u\n", r);
            return 2;
        }
    if (sk_run_prepare(run, ops, warmup) != 0) return 2;
    pthread_t tids[MAX_JOBS];
    job_t jobs[MAX_JOBS];
    int n = 0;
    sk_run_start(run);
    for (uint32_t r = 0; r < nroles; r++)
        for (uint32_t t = 0; t < roles[r].threads && n < MAX_JOBS; t++, n++) {
            jobs[n] = (job_t){run, r, t};
            if (pthread_create(&tids[n], NULL, drive, &jobs[n]) != 0) return 2;
        }
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, watch, run) != 0) return 2;
    for (int i = 0; i < n; i++) pthread_join(tids[i], NULL);
    atomic_store(&watch_done, true);
    pthread_join(watcher, NULL);
    sk_run_drain(run);

    int bad = 0;
    sk_run_totals_t tot;
    sk_run_totals(run, &tot);
    sk_checks_t c;
    sk_run_checks(run, &c);
    cc_alloc_stats_t s = cc_alloc_stats_snapshot();
#define EXPECT(cond, ...)                       \
    do {                                        \
        if (!(cond)) {                          \
            bad = 1;                            \
            fprintf(stderr, __VA_ARGS__);       \
            fputc('\n', stderr);                \
        }                                       \
    } while (0)
    EXPECT(tot.blocks_allocated == tot.blocks_freed, "leaked %llu blocks",
           (unsigned long long)(tot.blocks_allocated - tot.blocks_freed));
    uint64_t violations = c.misaligned + c.short_blocks + c.calloc_dirty + c.bad_errno + c.size0_blocks +
                          c.invalid_accepted + c.overflow_accepted;
    EXPECT(violations == 0, "contract violations: %llu", (unsigned long long)violations);
    EXPECT(s.alloc_count == c.allocs, "glue alloc_count %llu, ledger %llu", (unsigned long long)s.alloc_count, (unsigned long long)c.allocs);
    EXPECT(s.free_count == c.frees, "glue free_count %llu, ledger %llu", (unsigned long long)s.free_count, (unsigned long long)c.frees);
    EXPECT(s.alloc_bytes == c.usable_allocated, "glue alloc_bytes %llu, ledger %llu", (unsigned long long)s.alloc_bytes,
           (unsigned long long)c.usable_allocated);
    EXPECT(s.free_bytes == c.usable_freed, "glue free_bytes %llu, ledger %llu", (unsigned long long)s.free_bytes,
           (unsigned long long)c.usable_freed);
    EXPECT(s.failed_count == c.enomem_nulls, "glue failed_count %llu, ledger %llu", (unsigned long long)s.failed_count,
           (unsigned long long)c.enomem_nulls);
    EXPECT(tot.max_threads_inside >= 2 || n < 2, "threads never overlapped");
    sk_run_destroy(run);
    if (bad) return 1;
    printf("scenario_driver: ok (%llu blocks, %llu probes, %d threads)\n", (unsigned long long)c.allocs,
           (unsigned long long)c.probes, n);
    return 0;
}
