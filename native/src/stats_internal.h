/* Per-thread statistics records shared by alloc.c (the writers) and stats.c (registry, snapshot). */
#ifndef CC_STATS_INTERNAL_H
#define CC_STATS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cc_alloc.h"

/* One thread's counters. Only the owning thread writes them (relaxed load + store, no RMW), other
 * threads only read them, so counting costs no locked instruction and no shared cache line. */
typedef struct cc_stats_record {
    _Atomic uint64_t alloc_count;
    _Atomic uint64_t free_count;
    _Atomic uint64_t alloc_bytes;
    _Atomic uint64_t free_bytes;
    _Atomic uint64_t failed_count;
    _Atomic bool in_use;                  /* owned by a live thread */
    struct cc_stats_record *next;         /* registry list; records are never unlinked */
} cc_stats_record_t;

extern _Atomic bool cc_stats_on;

/* The calling thread's record, claimed on first use. NULL only if the record itself could not be
 * allocated (then the operation goes uncounted rather than failing). */
cc_stats_record_t *cc_stats_self(void);

static inline void cc_stats_add(_Atomic uint64_t *counter, uint64_t delta) {
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

static inline bool cc_stats_active(void) {
    return atomic_load_explicit(&cc_stats_on, memory_order_relaxed);
}

#endif /* CC_STATS_INTERNAL_H */
