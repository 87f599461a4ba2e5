/* Per-thread statistics records shared by alloc.c (the writers) and stats.c (registry, snapshot). */
#ifndef CC_STATS_INTERNAL_H
#define CC_STATS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc_alloc.h"

/* Shared between the library's own files only. Hidden on ELF, so the hot paths load the gate with
 * one RIP-relative instruction instead of going through the GOT (the library is built with hidden
 * visibility by default, but a declaration without the attribute must still assume the symbol
 * could come from elsewhere). Other object formats keep the default. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__ELF__)
#  define CC_INTERNAL __attribute__((visibility("hidden")))
#else
#  define CC_INTERNAL
#endif

/* Size classes: requests and blocks of up to CC_STATS_CLASS_MAX bytes are counted with one
 * increment of a per-class counter; counts and bytes are derived when a snapshot sums them
 * (docs/c-api.md, "Cost per call"). Class k covers 8(k-1)+1 .. 8k bytes; index 0 is unused. */
#define CC_STATS_CLASS_MAX ((size_t)1024)
#define CC_STATS_CLASSES (CC_STATS_CLASS_MAX / 8 + 1)

static inline size_t cc_stats_class_of(size_t bytes) { return (bytes + 7) >> 3; }

/* One thread's counters. Only the owning thread writes them (relaxed load + store, no RMW), other
 * threads only read them, so counting costs no locked instruction and no shared cache line. */
typedef struct cc_stats_record {
    /* cc_alloc requests of class k (statistics on, size-class counting probed valid): their
     * usable size is cc_stats_class_usable[k], the same for every block of the class. */
    _Atomic uint64_t alloc_class[CC_STATS_CLASSES];
    /* frees of blocks whose usable size is exactly 8k bytes (any allocation function) */
    _Atomic uint64_t free_class[CC_STATS_CLASSES];
    /* everything counted one by one: larger blocks, calloc, aligned blocks, odd usable sizes */
    _Atomic uint64_t alloc_count;
    _Atomic uint64_t free_count;
    _Atomic uint64_t alloc_bytes;
    _Atomic uint64_t free_bytes;
    _Atomic uint64_t failed_count;
    /* The alloc_class counter that the allocation now in mimalloc was counted in before the call
     * (so the call can be a tail call); the error handler takes that count back if it fails.
     * Only the owning thread reads or writes it. */
    _Atomic uint64_t *pending;
    _Atomic bool in_use;                  /* owned by a live thread */
    struct cc_stats_record *next;         /* registry list; records are never unlinked */
} cc_stats_record_t;

/* Usable size of every cc_alloc block of class k; valid when cc_stats_by_class is true. */
extern CC_INTERNAL size_t cc_stats_class_usable[CC_STATS_CLASSES];

/* Whether cc_alloc may count by class: set once at load after checking, for every class, that
 * mimalloc gives the class's smallest and largest request the same usable size (not so in
 * builds with padding, where the exact path counts each block's own size). */
extern CC_INTERNAL bool cc_stats_by_class;

/* The statistics switch, as a size bound: SIZE_MAX while statistics are off, 0 while on. The
 * allocation fast path's one test `size - 1 < gate` then rejects both size 0 and statistics. */
extern CC_INTERNAL size_t cc_stats_gate;

#if defined(__GNUC__) || defined(__clang__)
#  define CC_GATE_LOAD() __atomic_load_n(&cc_stats_gate, __ATOMIC_RELAXED)
#  define CC_GATE_STORE(v) __atomic_store_n(&cc_stats_gate, (v), __ATOMIC_SEQ_CST)
#else
#  define CC_GATE_LOAD() (*(volatile size_t *)&cc_stats_gate)
#  define CC_GATE_STORE(v) (*(volatile size_t *)&cc_stats_gate = (v))
#endif

#if defined(_MSC_VER)
#  define CC_THREAD_LOCAL __declspec(thread)
#elif defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
/* initial-exec: a direct %fs-relative load instead of a __tls_get_addr call per counted
 * operation. Safe in a dlopen()ed library for a few bytes (glibc keeps static TLS surplus for
 * this; mimalloc's own thread-local heap pointer uses the same model). */
#  define CC_THREAD_LOCAL _Thread_local __attribute__((tls_model("initial-exec")))
#else
#  define CC_THREAD_LOCAL _Thread_local
#endif

/* The calling thread's record once claimed (NULL before, and after thread exit). */
extern CC_INTERNAL CC_THREAD_LOCAL cc_stats_record_t *cc_stats_tls;

/* Claim a record for the calling thread (reusing one an exited thread handed back, or a new one).
 * NULL only if the record itself could not be allocated: the operation then goes uncounted
 * rather than failing. */
CC_INTERNAL cc_stats_record_t *cc_stats_claim(void);

/* The calling thread's record, claimed on first use. */
static inline cc_stats_record_t *cc_stats_self(void) {
    cc_stats_record_t *r = cc_stats_tls;
    return r != NULL ? r : cc_stats_claim();
}

static inline void cc_stats_add(_Atomic uint64_t *counter, uint64_t delta) {
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

static inline bool cc_stats_active(void) { return CC_GATE_LOAD() == 0; }

#endif /* CC_STATS_INTERNAL_H */
