/* The engine driven from plain pthreads, for sanitizer builds (tests/engine/test_sanitizers.py):
 * cross-thread free with planted faults, and an SMR pipeline, several threads per role. Exits 0
 * when every count is as expected; prints what differed otherwise. */
#include <pthread.h>
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
    while (sk_role_step(j->run, j->role, j->thread, 2000000) == 0) {
    }
    return NULL;
}

static sk_role_config_t role(int32_t action, uint32_t threads, int32_t inbox, int32_t outbox) {
    sk_role_config_t c;
    memset(&c, 0, sizeof c);
    c.action = action;
    c.kind = SK_KIND_PLAIN;
    c.threads = threads;
    c.inbox = inbox;
    c.outbox = outbox;
    c.batch = 16;
    c.size_kind = SK_SIZE_UNIFORM;
    c.size_count = 2;
    c.size_values[0] = 8;
    c.size_values[1] = 300;
    c.epoch_every = 16;
    c.grace_epochs = 2;
    c.grace_ns = 20000;
    return c;
}

static int run_all(sk_run_t *run, uint32_t nroles, const uint32_t *threads) {
    pthread_t tids[64];
    job_t jobs[64];
    int n = 0;
    sk_run_start(run);
    for (uint32_t r = 0; r < nroles; r++)
        for (uint32_t t = 0; t < threads[r]; t++) {
            jobs[n] = (job_t){run, r, t};
            if (pthread_create(&tids[n], NULL, drive, &jobs[n]) != 0) return -1;
            n++;
        }
    for (int k = 0; k < 5; k++) { /* the driver samples while the roles run */
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
        sk_run_sample(run);
    }
    for (int i = 0; i < n; i++) pthread_join(tids[i], NULL);
    sk_run_sample(run);
    sk_run_drain(run);
    return 0;
}

#define EXPECT(cond)                                                   \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                \
        }                                                              \
    } while (0)

int main(void) {
    int failures = 0;
    const uint64_t ops = 20000;

    sk_run_t *run = sk_run_create(1, 4);
    int32_t q = sk_run_add_queue(run, 16);
    sk_role_config_t p = role(SK_ACT_PRODUCE, 3, -1, q), c = role(SK_ACT_CONSUME, 3, q, -1);
    EXPECT(sk_run_add_role(run, &p) == 0 && sk_run_add_role(run, &c) == 1);
    EXPECT(sk_run_prepare(run, ops, 10) == 0);
    sk_engine_testing_corrupt_next(run, 2);
    sk_engine_testing_double_handoff_next(run, 2);
    EXPECT(run_all(run, 2, (uint32_t[]){3, 3}) == 0);
    sk_role_stats_t s, s0;
    sk_run_totals_t t;
    sk_run_role_stats(run, 0, &s0);
    sk_run_role_stats(run, 1, &s);
    sk_run_totals(run, &t);
    /* the planted damage lands on the next blocks freed by anyone: warm-up frees count too */
    EXPECT(s.frees == ops && s0.canary_failures + s.canary_failures == 2 && s.double_handoffs == 2);
    EXPECT(t.blocks_allocated == t.blocks_freed && t.blocks_reaped == 0);
    sk_run_destroy(run);

    run = sk_run_create(2, 4);
    int32_t pub = sk_run_add_queue(run, 32), ret = sk_run_add_queue(run, 32);
    sk_role_config_t a = role(SK_ACT_PRODUCE, 2, -1, pub), b = role(SK_ACT_RETIRE, 2, pub, ret),
                     r = role(SK_ACT_RECLAIM, 2, ret, -1);
    EXPECT(sk_run_add_role(run, &a) == 0 && sk_run_add_role(run, &b) == 1 && sk_run_add_role(run, &r) == 2);
    EXPECT(sk_run_prepare(run, ops, 0) == 0);
    EXPECT(run_all(run, 3, (uint32_t[]){2, 2, 2}) == 0);
    sk_run_role_stats(run, 2, &s);
    sk_run_totals(run, &t);
    EXPECT(s.frees == ops && s.canary_failures == 0 && s.double_handoffs == 0);
    EXPECT(s.min_age_at_free_ns >= 20000 && s.min_epochs_at_free >= 2);
    EXPECT(t.blocks_allocated == t.blocks_freed && t.unreclaimed_blocks == 0);
    EXPECT(sk_run_series(run, NULL, NULL, NULL, 0) == 6); /* 5 while running, 1 after */
    EXPECT(t.unreclaimed_byte_ns > 0 && t.unreclaimed_peak_bytes > 0);
    sk_run_destroy(run);

    /* an abort with blocks in flight: the drain frees them */
    run = sk_run_create(3, 4);
    pub = sk_run_add_queue(run, 32);
    ret = sk_run_add_queue(run, 32);
    r.grace_ns = 1000000000; /* 1 s: nothing is old enough before the abort */
    EXPECT(sk_run_add_role(run, &a) == 0 && sk_run_add_role(run, &b) == 1 && sk_run_add_role(run, &r) == 2);
    EXPECT(sk_run_prepare(run, 0, 0) == 0);
    sk_run_start(run);
    pthread_t tids[6];
    job_t jobs[6];
    for (int i = 0; i < 6; i++) {
        jobs[i] = (job_t){run, (uint32_t)(i / 2), (uint32_t)(i % 2)};
        pthread_create(&tids[i], NULL, drive, &jobs[i]);
    }
    struct timespec nap = {0, 50000000};
    nanosleep(&nap, NULL);
    sk_run_abort(run);
    for (int i = 0; i < 6; i++) pthread_join(tids[i], NULL);
    sk_run_drain(run);
    sk_run_totals(run, &t);
    EXPECT(t.blocks_reaped > 0 && t.blocks_allocated == t.blocks_freed && t.unreclaimed_blocks == 0);
    EXPECT(t.reap_canary_failures == 0);
    sk_run_destroy(run);

    if (failures == 0) printf("engine_stress: ok\n");
    return failures == 0 ? 0 : 1;
}
