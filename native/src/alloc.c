/* Allocation and free: the glue's hot path.
 *
 * Each function is shaped so that the common case (statistics off, a normal size) is two
 * compare-and-branches and a tail jump into mimalloc: no stack frame, no work after the call.
 * Everything else (size 0, tiny sizes, statistics, failure) goes to an out-of-line slow path.
 * errno = ENOMEM on failure is set by a mimalloc error handler registered at load time, so the
 * fast path need not look at mimalloc's result. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <mimalloc.h>

#include "cc_alloc.h"
#include "stats_internal.h"

#if defined(__GNUC__) || defined(__clang__)
#  define CC_LIKELY(x) __builtin_expect(!!(x), 1)
#  define CC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define CC_NOINLINE __attribute__((noinline))
#  define CC_HAVE_CONSTRUCTOR 1
#else
#  define CC_LIKELY(x) (x)
#  define CC_UNLIKELY(x) (x)
#  define CC_NOINLINE
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
static void on_mimalloc_error(int err, void *arg) {
    (void)arg;
    if (err == ENOMEM || err == EOVERFLOW) {
        errno = ENOMEM;
    } else if (err == EFAULT) {
        abort();
    }
}

#if CC_HAVE_CONSTRUCTOR
__attribute__((constructor)) static void register_error_handler(void) {
    mi_register_error(on_mimalloc_error, NULL);
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

static void count_alloc(void *p) {
    cc_stats_record_t *r = cc_stats_self();
    if (r == NULL) return;
    if (p != NULL) {
        cc_stats_add(&r->alloc_count, 1);
        cc_stats_add(&r->alloc_bytes, mi_usable_size(p));
    } else {
        cc_stats_add(&r->failed_count, 1);
    }
}

static void count_free(void *p) {
    cc_stats_record_t *r = cc_stats_self();
    if (r == NULL) return;
    cc_stats_add(&r->free_count, 1);
    cc_stats_add(&r->free_bytes, mi_usable_size(p));
}

static inline void *finish_alloc(void *p) {
    if (CC_UNLIKELY(p == NULL)) errno = ENOMEM;
    if (cc_stats_active()) count_alloc(p);
    return p;
}

/* ---- allocation ---- */

static CC_NOINLINE void *alloc_slow(size_t size) {
    if (size == 0) return NULL;
    return finish_alloc(mi_malloc(at_least_min_block(size)));
}

void *cc_alloc(size_t size) {
    if (CC_LIKELY(size != 0 && !cc_stats_active())) CC_RETURN_ALLOC(mi_malloc(at_least_min_block(size)));
    return alloc_slow(size);
}

static CC_NOINLINE void *calloc_slow(size_t count, size_t size) {
    if (count == 0 || size == 0) return NULL;
    /* Checked here rather than left to mi_calloc so that errno and failed_count are ours. */
    if (count > SIZE_MAX / size) return finish_alloc(NULL);
    return finish_alloc(mi_calloc(1, at_least_min_block(count * size)));
}

/* Both factors below 2^32 cannot overflow a 64-bit size_t; the rest takes the checked path. */
#if SIZE_MAX > 0xFFFFFFFFu
#  define CC_CALLOC_CANNOT_OVERFLOW(count, size) ((((count) | (size)) >> 32) == 0)
#else
#  define CC_CALLOC_CANNOT_OVERFLOW(count, size) 0
#endif

void *cc_calloc(size_t count, size_t size) {
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
    return finish_alloc(mi_malloc_aligned(size, alignment));
}

void *cc_alloc_aligned(size_t size, size_t alignment) {
    if (CC_LIKELY(size != 0 && alignment_is_valid(alignment) && !cc_stats_active()))
        CC_RETURN_ALLOC(mi_malloc_aligned(size, alignment));
    return aligned_slow(size, alignment);
}

static CC_NOINLINE void *node_slow(size_t size) {
    if (size == 0) return NULL;
    if (size > SIZE_MAX - (CC_CACHE_LINE_SIZE - 1)) return finish_alloc(NULL);
    size_t rounded = (size + CC_CACHE_LINE_SIZE - 1) & ~(size_t)(CC_CACHE_LINE_SIZE - 1);
    return finish_alloc(mi_malloc_aligned(rounded, CC_CACHE_LINE_SIZE));
}

void *cc_alloc_node(size_t size) {
    if (CC_LIKELY(size - 1 < SIZE_MAX - CC_CACHE_LINE_SIZE && !cc_stats_active())) {
        size_t rounded = (size + CC_CACHE_LINE_SIZE - 1) & ~(size_t)(CC_CACHE_LINE_SIZE - 1);
        CC_RETURN_ALLOC(mi_malloc_aligned(rounded, CC_CACHE_LINE_SIZE));
    }
    return node_slow(size);
}

/* ---- free ---- */

static CC_NOINLINE void free_slow(void *ptr, size_t size) {
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

void cc_free(void *ptr, size_t size) {
#ifndef CC_DEBUG
    /* mi_free(NULL) is a no-op, so NULL needs no test of its own here. */
    if (CC_LIKELY(!cc_stats_active())) {
        mi_free(ptr);
        return;
    }
#endif
    free_slow(ptr, size);
}

void cc_free_unsized(void *ptr) {
    if (CC_LIKELY(!cc_stats_active())) {
        mi_free(ptr);
        return;
    }
    free_slow(ptr, 0);
}

size_t cc_usable_size(const void *ptr) {
    return ptr == NULL ? 0 : mi_usable_size(ptr);
}
