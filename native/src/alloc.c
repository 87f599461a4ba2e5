/* Allocation and free: the glue's hot path.
 *
 * Each function is shaped so that the common case (statistics off, a normal size) is two
 * compare-and-branches and a tail jump into mimalloc: no stack frame, no work after the call.
 * Everything else (size 0, tiny sizes, statistics, failure) goes to an out-of-line slow path.
 * errno = ENOMEM on failure is set by a mimalloc error handler registered at load time, so the
 * fast path need not look at mimalloc's result.
 *
 * Statistics count usable bytes, with one counter increment per call where possible, done
 * before the call into mimalloc so that call stays a tail call (measured: work after the call
 * costs ~0.7 ns more than the same work before it; docs/c-api.md, "Cost per call"). cc_alloc of
 * up to CC_STATS_CLASS_MAX bytes counts its size class, whose usable size is known from a
 * load-time probe; should mimalloc then fail, the error handler takes that count back. Other
 * allocations learn the usable size with the block (mi_umalloc/mi_ucalloc) or, for aligned
 * blocks that mimalloc may place inside a larger block, from the pointer. Every free looks the
 * usable size up (mi_usable_size): cc_free's size is only a hint, and cc_free_unsized has none.
 *
 * On x86-64 ELF, cc_alloc, cc_free and cc_free_unsized are assembly (entry_x86_64.c; why in
 * entry_internal.h) that jumps into the slow paths here; their C versions below are the portable
 * build and the definition of what the assembly does. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <mimalloc.h>

#include "cc_alloc.h"
#include "entry_internal.h"
#include "stats_internal.h"

#if defined(__GNUC__) || defined(__clang__)
#  define CC_LIKELY(x) __builtin_expect(!!(x), 1)
#  define CC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define CC_NOINLINE __attribute__((noinline))
/* Each entry point starts its own 64-byte fetch block: at 1-2 ns per call, where a wrapper of a
 * few instructions lands relative to fetch and branch-predictor boundaries moved the free ratio
 * by 0.2x between builds that differed only in unrelated code. */
#  define CC_HOT __attribute__((aligned(64)))
#  define CC_HAVE_CONSTRUCTOR 1
#else
#  define CC_LIKELY(x) (x)
#  define CC_UNLIKELY(x) (x)
#  define CC_NOINLINE
#  define CC_HOT
#  define CC_HAVE_CONSTRUCTOR 0
#endif

/* mimalloc serves requests of up to 8 bytes from its 8-byte size class, whose blocks are only
 * 8-aligned, while cc_alloc promises alignof(max_align_t) (16) like malloc; every larger mimalloc
 * size class is a multiple of 16. So tiny requests take the smallest block that keeps the promise. */
#define CC_MIN_BLOCK ((size_t)_Alignof(max_align_t))

static inline size_t at_least_min_block(size_t size) {
    return size < CC_MIN_BLOCK ? CC_MIN_BLOCK : size;
}

/* ---- errno on failure ---- */

/* mimalloc reports a failed allocation through its error handler (ENOMEM, or EOVERFLOW for a size
 * it cannot represent) before returning NULL; mimalloc itself leaves errno alone. Registering a
 * handler replaces mimalloc's default one, so keep what that one does for corruption: EFAULT
 * (a corrupted free list or invalid pointer, detected by debug/secure builds) stops the process
 * there, where the evidence is. Other codes are informational. */
/* A cc_alloc counted by class before its tail call failed: take the count back and count the
 * failure. mimalloc reports every failed allocation here, on the failing thread, before it
 * returns NULL (errno above relies on the same). Only while statistics are on: every counted
 * allocation path sets or clears `pending` before calling mimalloc, so it is current then; a
 * failure while off is not counted, and a stale `pending` left from before is ignored. */
static void undo_precount(void) {
    cc_stats_record_t *r = cc_stats_tls;
    if (r == NULL || !cc_stats_active()) return;
    _Atomic uint64_t *counted = r->pending;
    if (counted == NULL) return;
    r->pending = NULL;
    cc_stats_add(counted, (uint64_t)-1);
    cc_stats_add(&r->failed_count, 1);
}

static void on_mimalloc_error(int err, void *arg) {
    (void)arg;
    if (err == ENOMEM || err == EOVERFLOW) {
        undo_precount();
        errno = ENOMEM;
    } else if (err == EFAULT) {
        abort();
    }
}

/* Whether the block size mi_umalloc reports is the usable size. It is in release builds of
 * mimalloc; builds with padding (debug, MI_TRACK_ASAN) report the padded block while
 * mi_usable_size reports the size asked for. Probed once at load; false means look it up. */
static bool umalloc_usable_exact = false;

#if CC_HAVE_CONSTRUCTOR
static void probe_umalloc(void) {
    bool exact = true;
    for (size_t size = 1; size <= 1024 && exact; size += 41) {
        size_t usable = 0;
        void *p = mi_umalloc(size, &usable);
        if (p == NULL) return;
        exact = usable == mi_usable_size(p);
        mi_free(p);
    }
    umalloc_usable_exact = exact;
}

/* Class counting needs every request of a class to get the same usable size: check each class's
 * smallest and largest request (after the minimum block) against each other. */
static void probe_classes(void) {
    for (size_t k = 1; k < CC_STATS_CLASSES; k++) {
        size_t usable = 0;
        for (size_t size = 8 * k - 7; size <= 8 * k; size += 7) {
            void *p = mi_malloc(at_least_min_block(size));
            if (p == NULL) return;
            size_t u = mi_usable_size(p);
            mi_free(p);
            if (usable != 0 && u != usable) return;
            usable = u;
        }
        cc_stats_class_usable[k] = usable;
    }
    cc_stats_by_class = true;
}

__attribute__((constructor)) static void register_error_handler(void) {
    mi_register_error(on_mimalloc_error, NULL);
    probe_umalloc();
    probe_classes();
}
#  define CC_RETURN_ALLOC(expr) return (expr)
#else
/* No load-time hook: set errno after the call (not a tail call, a few instructions more). */
#  define CC_RETURN_ALLOC(expr)                 \
      do {                                      \
          void *cc_p_ = (expr);                 \
          if (cc_p_ == NULL) errno = ENOMEM;    \
          return cc_p_;                         \
      } while (0)
#endif

/* ---- statistics (slow path only) ---- */

static inline void count_alloc(void *p, size_t usable) {
    cc_stats_record_t *r = cc_stats_self();
    if (r == NULL) return;
    if (p != NULL) {
        cc_stats_add(&r->alloc_count, 1);
        cc_stats_add(&r->alloc_bytes, usable);
    } else {
        cc_stats_add(&r->failed_count, 1);
    }
}

/* One increment when the usable size is a class size (every small block), two otherwise. */
static inline void count_free(void *p) {
    cc_stats_record_t *r = cc_stats_self();
    if (r == NULL) return;
    size_t usable = mi_usable_size(p);
    if (CC_LIKELY(usable <= CC_STATS_CLASS_MAX && (usable & 7) == 0)) {
        cc_stats_add(&r->free_class[usable >> 3], 1);
        return;
    }
    cc_stats_add(&r->free_count, 1);
    cc_stats_add(&r->free_bytes, usable);
}

/* Called by every counted allocation path that counts after its mimalloc call, before that call:
 * a failure is then counted by the path itself, not taken back from an earlier allocation. */
static inline void no_precount(void) {
    cc_stats_record_t *r = cc_stats_tls;
    if (r != NULL) r->pending = NULL;
}

static inline void *finish_alloc(void *p, size_t usable) {
    if (CC_UNLIKELY(p == NULL)) errno = ENOMEM;
    if (cc_stats_active()) count_alloc(p, usable);
    return p;
}

/* Aligned blocks may sit inside a larger block: their usable size comes from the pointer. */
static inline void *finish_aligned(void *p) {
    return finish_alloc(p, p != NULL && cc_stats_active() ? mi_usable_size(p) : 0);
}

/* ---- allocation ---- */

/* Statistics on, a class-sized request: one increment, then a tail call (undo_precount() takes
 * the count back if mimalloc fails). */
static inline void *alloc_precounted(cc_stats_record_t *r, size_t size) {
    _Atomic uint64_t *counter = &r->alloc_class[cc_stats_class_of(size)];
    cc_stats_add(counter, 1);
    r->pending = counter;
    return mi_malloc(at_least_min_block(size));
}

/* Statistics on, counted one by one: sizes above the classes, or class counting unavailable. */
static CC_NOINLINE void *alloc_counted(size_t size) {
    no_precount();
    size_t usable = 0;
    void *p = mi_umalloc(at_least_min_block(size), &usable);
    if (CC_UNLIKELY(p == NULL)) errno = ENOMEM;
    count_alloc(p, p != NULL && !umalloc_usable_exact ? mi_usable_size(p) : usable);
    return p;
}

/* Reached for size 0, or with statistics on (cc_alloc's gate; aligned_slow's small alignments):
 * counts without testing the switch again, so an allocation that raced with turning statistics
 * off is still counted, as one that started while they were on. Kept to the class path's few
 * instructions (no stack frame); a thread's first counted allocation claims its record in
 * alloc_counted. */
CC_NOINLINE void *cc_alloc_slow(size_t size) {
    if (size == 0) return NULL;
    cc_stats_record_t *r = cc_stats_tls;
    if (CC_LIKELY(size <= CC_STATS_CLASS_MAX && cc_stats_by_class && r != NULL))
        return alloc_precounted(r, size);
    return alloc_counted(size);
}

#if !CC_ASM_ENTRIES
CC_HOT void *cc_alloc(size_t size) {
    /* One compare for both: size 0 wraps to SIZE_MAX, and the gate is 0 while counting. */
    if (CC_LIKELY(size - 1 < CC_GATE_LOAD())) CC_RETURN_ALLOC(mi_malloc(at_least_min_block(size)));
    return cc_alloc_slow(size);
}
#endif

static CC_NOINLINE void *calloc_slow(size_t count, size_t size) {
    if (count == 0 || size == 0) return NULL;
    /* Checked here rather than left to mi_calloc so that errno and failed_count are ours. */
    if (count > SIZE_MAX / size) return finish_alloc(NULL, 0);
    no_precount();
    size_t usable = 0;
    void *p = mi_ucalloc(1, at_least_min_block(count * size), &usable);
    return finish_alloc(p, p != NULL && !umalloc_usable_exact ? mi_usable_size(p) : usable);
}

/* Both factors below 2^32 cannot overflow a 64-bit size_t; the rest takes the checked path. */
#if SIZE_MAX > 0xFFFFFFFFu
#  define CC_CALLOC_CANNOT_OVERFLOW(count, size) ((((count) | (size)) >> 32) == 0)
#else
#  define CC_CALLOC_CANNOT_OVERFLOW(count, size) 0
#endif

CC_HOT void *cc_calloc(size_t count, size_t size) {
    if (CC_LIKELY(CC_CALLOC_CANNOT_OVERFLOW(count, size) && count * size != 0 && !cc_stats_active()))
        CC_RETURN_ALLOC(mi_calloc(1, at_least_min_block(count * size)));
    return calloc_slow(count, size);
}

static inline int alignment_is_valid(size_t alignment) {
    return alignment >= sizeof(void *) && (alignment & (alignment - 1)) == 0;
}

static CC_NOINLINE void *aligned_slow(size_t size, size_t alignment) {
    if (!alignment_is_valid(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    if (size == 0) return NULL;
    if (alignment <= CC_MIN_BLOCK) return cc_alloc_slow(size);
    no_precount();
    return finish_aligned(mi_malloc_aligned(size, alignment));
}

/* Alignments up to CC_MIN_BLOCK are what every cc_alloc block has already: a plain allocation.
 * C on every target: the assembly version of this entry (one taken branch into
 * mi_malloc_aligned for every alignment) measured 1.19-1.24x of mimalloc against this one's
 * 0.90-1.09x (docs/c-api.md, "Entry points in assembly"). */
CC_HOT void *cc_alloc_aligned(size_t size, size_t alignment) {
    if (CC_LIKELY(size != 0 && alignment_is_valid(alignment) && !cc_stats_active())) {
        if (alignment <= CC_MIN_BLOCK) CC_RETURN_ALLOC(mi_malloc(at_least_min_block(size)));
        CC_RETURN_ALLOC(mi_malloc_aligned(size, alignment));
    }
    return aligned_slow(size, alignment);
}

static CC_NOINLINE void *node_slow(size_t size) {
    if (size == 0) return NULL;
    if (size > SIZE_MAX - (CC_CACHE_LINE_SIZE - 1)) return finish_alloc(NULL, 0);
    size_t rounded = (size + CC_CACHE_LINE_SIZE - 1) & ~(size_t)(CC_CACHE_LINE_SIZE - 1);
    no_precount();
    return finish_aligned(mi_malloc_aligned(rounded, CC_CACHE_LINE_SIZE));
}

CC_HOT void *cc_alloc_node(size_t size) {
    if (CC_LIKELY(size - 1 < SIZE_MAX - CC_CACHE_LINE_SIZE && !cc_stats_active())) {
        size_t rounded = (size + CC_CACHE_LINE_SIZE - 1) & ~(size_t)(CC_CACHE_LINE_SIZE - 1);
        CC_RETURN_ALLOC(mi_malloc_aligned(rounded, CC_CACHE_LINE_SIZE));
    }
    return node_slow(size);
}

/* ---- free ---- */

CC_NOINLINE void cc_free_slow(void *ptr, size_t size) {
    if (ptr == NULL) return;
#ifdef CC_DEBUG
    if (size > mi_usable_size(ptr)) {
        /* A size larger than the block means the caller freed the wrong pointer or mis-tracked
         * its size: stop here, where the bug is, not later in an unrelated allocation. */
        abort();
    }
#else
    (void)size;
#endif
    if (cc_stats_active()) count_free(ptr);
    mi_free(ptr);
}

#if !CC_ASM_ENTRIES
CC_HOT void cc_free(void *ptr, size_t size) {
#ifndef CC_DEBUG
    /* mi_free(NULL) is a no-op, so NULL needs no test of its own here. */
    if (CC_LIKELY(!cc_stats_active())) {
        mi_free(ptr);
        return;
    }
#endif
    cc_free_slow(ptr, size);
}

CC_HOT void cc_free_unsized(void *ptr) {
    if (CC_LIKELY(!cc_stats_active())) {
        mi_free(ptr);
        return;
    }
    cc_free_slow(ptr, 0);
}
#endif

size_t cc_usable_size(const void *ptr) {
    return ptr == NULL ? 0 : mi_usable_size(ptr);
}
