/* The machine's cross-core hand-off latency (see sk_bench_engine.h, sk_bench_handoff). Nothing in
 * here allocates through the glue: it measures the cores, not an allocator. Both sides spin with
 * plain loads, no pause: each has a core to itself, and a pause would round the latency up. */
#if defined(__linux__)

#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sk_bench_engine.h"

#define HANDOFF_MAX_ROUND_TRIPS 1000000u
#define HANDOFF_MAX_BATCHES 101u
/* The whole probe gives up after this long: pinned threads on CPUs that other work keeps busy can
 * take turns for a long time (it measures the machine; it must never hold up a run). */
#define HANDOFF_DEADLINE_NS ((int64_t)250 * 1000 * 1000)

typedef struct handoff {
    alignas(64) _Atomic uint64_t ball; /* odd: the echo's turn; even: the pinger's */
    alignas(64) uint64_t round_trips;
    uint32_t batches;
    int cpu_echo;
    _Atomic int failed; /* the echo could not pin itself, or the pinger gave up: both stop */
} handoff_t;

static int64_t handoff_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

static int pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *handoff_echo(void *arg) {
    handoff_t *h = arg;
    if (pin_to(h->cpu_echo) != 0) {
        atomic_store(&h->failed, 1);
        return NULL;
    }
    uint64_t total = h->round_trips * h->batches;
    for (uint64_t i = 0; i < total; i++) {
        while (atomic_load_explicit(&h->ball, memory_order_acquire) != 2 * i + 1)
            if (atomic_load_explicit(&h->failed, memory_order_relaxed)) return NULL;
        atomic_store_explicit(&h->ball, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int sk_bench_handoff(uint32_t round_trips, uint32_t batches, sk_handoff_result_t *out) {
    if (out == NULL) return EINVAL;
    memset(out, 0, sizeof *out);
    out->cpu_a = out->cpu_b = -1;
    if (round_trips < 1 || round_trips > HANDOFF_MAX_ROUND_TRIPS || batches < 1 || batches > HANDOFF_MAX_BATCHES)
        return EINVAL;
    /* The first two CPUs this thread may run on: the probe restores the caller's affinity after. */
    cpu_set_t allowed;
    if (pthread_getaffinity_np(pthread_self(), sizeof allowed, &allowed) != 0) return ENOTSUP;
    int cpus[2], n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &allowed)) cpus[n++] = c;
    if (n < 2) return ENOTSUP; /* one usable CPU: no second core to hand off to */
    handoff_t h;
    memset(&h, 0, sizeof h);
    h.round_trips = round_trips;
    h.batches = batches;
    h.cpu_echo = cpus[1];
    int rc = pin_to(cpus[0]) == 0 ? 0 : ENOTSUP; /* e.g. a cpuset narrower than the affinity mask */
    pthread_t echo;
    if (rc == 0) rc = pthread_create(&echo, NULL, handoff_echo, &h);
    double per[HANDOFF_MAX_BATCHES];
    bool timed_out = false;
    if (rc == 0) {
        int64_t deadline = handoff_now_ns() + HANDOFF_DEADLINE_NS;
        uint64_t i = 0;
        for (uint32_t b = 0; b < batches && !atomic_load(&h.failed); b++) {
            int64_t t0 = handoff_now_ns();
            for (uint64_t k = 0; k < round_trips; k++, i++) {
                atomic_store_explicit(&h.ball, 2 * i + 1, memory_order_release);
                for (uint32_t spins = 1; atomic_load_explicit(&h.ball, memory_order_acquire) != 2 * i + 2; spins++) {
                    if (atomic_load_explicit(&h.failed, memory_order_relaxed)) break;
                    if ((spins & 4095) == 0 && handoff_now_ns() > deadline) {
                        timed_out = true;
                        atomic_store(&h.failed, 1);
                    }
                }
                if (atomic_load_explicit(&h.failed, memory_order_relaxed)) break;
            }
            per[b] = (double)(handoff_now_ns() - t0) / (double)round_trips;
            if (!atomic_load(&h.failed) && handoff_now_ns() > deadline && b + 1 < batches) {
                timed_out = true;
                atomic_store(&h.failed, 1);
            }
        }
        pthread_join(echo, NULL);
        if (atomic_load(&h.failed)) rc = timed_out ? ETIMEDOUT : ENOTSUP;
    }
    pthread_setaffinity_np(pthread_self(), sizeof allowed, &allowed);
    if (rc != 0) return rc;
    qsort(per, batches, sizeof per[0], cmp_double);
    out->round_trip_ns = per[batches / 2];
    out->min_round_trip_ns = per[0];
    out->max_round_trip_ns = per[batches - 1];
    out->cpu_a = cpus[0];
    out->cpu_b = cpus[1];
    return 0;
}

#else /* not Linux: no portable way to put two threads on two given cores */

#include <errno.h>
#include <string.h>

#include "sk_bench_engine.h"

int sk_bench_handoff(uint32_t round_trips, uint32_t batches, sk_handoff_result_t *out) {
    (void)round_trips;
    (void)batches;
    if (out != NULL) {
        memset(out, 0, sizeof *out);
        out->cpu_a = out->cpu_b = -1;
    }
    return ENOSYS;
}

#endif
