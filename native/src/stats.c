/* Statistics: the registry of per-thread records, thread-exit hand-back, snapshot and reset.
 * Nothing here is on the allocation hot path except cc_stats_self()'s thread-local load. */
#include <mimalloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "cc_alloc.h"
#include "cc_alloc_testing.h"
#include "stats_internal.h"


size_t cc_stats_gate = SIZE_MAX; /* off by default */
size_t cc_stats_class_usable[CC_STATS_CLASSES];
bool cc_stats_by_class = false;

static _Atomic(cc_stats_record_t *) registry = NULL;
CC_THREAD_LOCAL cc_stats_record_t *cc_stats_tls = NULL;

/* ---- thread exit: give the record back so a later thread reuses it (its counts stay in it) ---- */

static void release_record(void *record) {
    cc_stats_record_t *r = (cc_stats_record_t *)record;
    if (r == NULL) return;
    if (cc_stats_tls == r) cc_stats_tls = NULL;
    r->pending = NULL;
    atomic_store_explicit(&r->in_use, false, memory_order_release);
}

#if defined(_WIN32)
#  include <windows.h>
static DWORD exit_key = FLS_OUT_OF_INDEXES;
static INIT_ONCE exit_key_once = INIT_ONCE_STATIC_INIT;
static VOID WINAPI fls_release(PVOID record) { release_record(record); }
static BOOL CALLBACK make_exit_key(PINIT_ONCE once, PVOID param, PVOID *ctx) {
    (void)once; (void)param; (void)ctx;
    exit_key = FlsAlloc(fls_release);
    return TRUE;
}
static void watch_thread_exit(cc_stats_record_t *r) {
    InitOnceExecuteOnce(&exit_key_once, make_exit_key, NULL, NULL);
    if (exit_key != FLS_OUT_OF_INDEXES) FlsSetValue(exit_key, r);
}
#else
#  include <pthread.h>
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int exit_key_ok = 0;
static void make_exit_key(void) { exit_key_ok = pthread_key_create(&exit_key, release_record) == 0; }
static void watch_thread_exit(cc_stats_record_t *r) {
    pthread_once(&exit_key_once, make_exit_key);
    if (exit_key_ok) pthread_setspecific(exit_key, r);
}
#endif

/* ---- registry ---- */

static cc_stats_record_t *claim_free_record(void) {
    for (cc_stats_record_t *r = atomic_load_explicit(&registry, memory_order_acquire); r != NULL;
         r = r->next) {
        bool expected = false;
        if (!atomic_load_explicit(&r->in_use, memory_order_relaxed) &&
            atomic_compare_exchange_strong_explicit(&r->in_use, &expected, true,
                                                    memory_order_acquire, memory_order_relaxed)) {
            return r;
        }
    }
    return NULL;
}

static cc_stats_record_t *new_record(void) {
    /* A whole number of cache lines, line-aligned: no two threads' counters share a line. */
    size_t size = (sizeof(cc_stats_record_t) + CC_CACHE_LINE_SIZE - 1) &
                  ~(size_t)(CC_CACHE_LINE_SIZE - 1);
    cc_stats_record_t *r = (cc_stats_record_t *)mi_zalloc_aligned(size, CC_CACHE_LINE_SIZE);
    if (r == NULL) return NULL;
    atomic_store_explicit(&r->in_use, true, memory_order_relaxed);
    cc_stats_record_t *head = atomic_load_explicit(&registry, memory_order_relaxed);
    do {
        r->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&registry, &head, r, memory_order_release,
                                                    memory_order_relaxed));
    return r;
}

cc_stats_record_t *cc_stats_claim(void) {
    cc_stats_record_t *r = claim_free_record();
    if (r == NULL) r = new_record();
    if (r == NULL) return NULL;
    cc_stats_tls = r;
    watch_thread_exit(r);
    return r;
}

/* ---- snapshot and reset ---- */

static cc_alloc_stats_t baseline;              /* raw sums at the last reset */
static atomic_flag baseline_lock = ATOMIC_FLAG_INIT;

static void lock_baseline(void) {
    while (atomic_flag_test_and_set_explicit(&baseline_lock, memory_order_acquire)) {
    }
}
static void unlock_baseline(void) { atomic_flag_clear_explicit(&baseline_lock, memory_order_release); }

/* Class counters become counts and bytes here, once per snapshot instead of once per call. */
static void add_classes(const cc_stats_record_t *r, cc_alloc_stats_t *s) {
    for (size_t k = 1; k < CC_STATS_CLASSES; k++) {
        uint64_t allocs = atomic_load_explicit(&r->alloc_class[k], memory_order_relaxed);
        uint64_t frees = atomic_load_explicit(&r->free_class[k], memory_order_relaxed);
        s->alloc_count += allocs;
        s->alloc_bytes += allocs * cc_stats_class_usable[k];
        s->free_count += frees;
        s->free_bytes += frees * (uint64_t)(8 * k);
    }
}

static cc_alloc_stats_t raw_sums(void) {
    cc_alloc_stats_t s;
    memset(&s, 0, sizeof s);
    for (cc_stats_record_t *r = atomic_load_explicit(&registry, memory_order_acquire); r != NULL;
         r = r->next) {
        add_classes(r, &s);
        s.alloc_count += atomic_load_explicit(&r->alloc_count, memory_order_relaxed);
        s.free_count += atomic_load_explicit(&r->free_count, memory_order_relaxed);
        s.alloc_bytes += atomic_load_explicit(&r->alloc_bytes, memory_order_relaxed);
        s.free_bytes += atomic_load_explicit(&r->free_bytes, memory_order_relaxed);
        s.failed_count += atomic_load_explicit(&r->failed_count, memory_order_relaxed);
    }
    return s;
}

cc_alloc_stats_t cc_alloc_stats_snapshot(void) {
    atomic_thread_fence(memory_order_seq_cst);
    cc_alloc_stats_t raw = raw_sums();
    lock_baseline();
    cc_alloc_stats_t s;
    s.alloc_count = raw.alloc_count - baseline.alloc_count;
    s.free_count = raw.free_count - baseline.free_count;
    s.alloc_bytes = raw.alloc_bytes - baseline.alloc_bytes;
    s.free_bytes = raw.free_bytes - baseline.free_bytes;
    s.failed_count = raw.failed_count - baseline.failed_count;
    unlock_baseline();
    s.current_allocated = s.alloc_bytes - s.free_bytes;
    return s;
}

void cc_alloc_stats_get(cc_alloc_stats_t *out) {
    if (out != NULL) *out = cc_alloc_stats_snapshot();
}

void cc_alloc_stats_reset(void) {
    atomic_thread_fence(memory_order_seq_cst);
    cc_alloc_stats_t raw = raw_sums();
    lock_baseline();
    baseline = raw;
    unlock_baseline();
}

void cc_alloc_stats_enable(bool enabled) { CC_GATE_STORE(enabled ? (size_t)0 : SIZE_MAX); }

bool cc_alloc_stats_enabled(void) { return cc_stats_active(); }

void cc_alloc_stats_testing_bump(uint64_t delta) {
    if (!cc_stats_active()) return;
    cc_stats_record_t *r = cc_stats_self();
    if (r == NULL) return;
    cc_stats_add(&r->alloc_count, delta);
    cc_stats_add(&r->free_count, delta);
    cc_stats_add(&r->alloc_bytes, delta);
    cc_stats_add(&r->free_bytes, delta);
    cc_stats_add(&r->failed_count, delta);
}
