/* Allocation and free: the glue's hot path. Each function is a mimalloc call plus, only while
 * statistics are on, a few single-writer counter updates in the calling thread's record. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <mimalloc.h>

#include "cc_alloc.h"
#include "stats_internal.h"

#if defined(__GNUC__) || defined(__clang__)
#  define CC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define CC_UNLIKELY(x) (x)
#endif

/* Kept out of line so the stats-off path stays a test-and-branch around the mimalloc call. */
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

/* mimalloc serves requests of up to 8 bytes from its 8-byte size class, whose blocks are only
 * 8-aligned, while cc_alloc promises alignof(max_align_t) (16) like malloc; every larger mimalloc
 * size class is a multiple of 16. So tiny requests take the smallest block that keeps the promise. */
static inline size_t at_least_max_align(size_t size) {
    return size < _Alignof(max_align_t) ? _Alignof(max_align_t) : size;
}

static inline void *finish_alloc(void *p) {
    if (CC_UNLIKELY(p == NULL)) errno = ENOMEM;
    if (CC_UNLIKELY(cc_stats_active())) count_alloc(p);
    return p;
}

void *cc_alloc(size_t size) {
    if (CC_UNLIKELY(size == 0)) return NULL;
    return finish_alloc(mi_malloc(at_least_max_align(size)));
}

void *cc_calloc(size_t count, size_t size) {
    if (CC_UNLIKELY(count == 0 || size == 0)) return NULL;
    /* mi_calloc checks the overflow too; doing it here keeps errno/stats semantics ours. */
    if (CC_UNLIKELY(count > SIZE_MAX / size)) return finish_alloc(NULL);
    return finish_alloc(mi_calloc(1, at_least_max_align(count * size)));
}

static inline int alignment_is_valid(size_t alignment) {
    return alignment >= sizeof(void *) && (alignment & (alignment - 1)) == 0;
}

void *cc_alloc_aligned(size_t size, size_t alignment) {
    if (CC_UNLIKELY(!alignment_is_valid(alignment))) {
        errno = EINVAL;
        return NULL;
    }
    if (CC_UNLIKELY(size == 0)) return NULL;
    return finish_alloc(mi_malloc_aligned(size, alignment));
}

void *cc_alloc_node(size_t size) {
    if (CC_UNLIKELY(size == 0)) return NULL;
    if (CC_UNLIKELY(size > SIZE_MAX - (CC_CACHE_LINE_SIZE - 1))) return finish_alloc(NULL);
    size_t rounded = (size + CC_CACHE_LINE_SIZE - 1) & ~(size_t)(CC_CACHE_LINE_SIZE - 1);
    return finish_alloc(mi_malloc_aligned(rounded, CC_CACHE_LINE_SIZE));
}

void cc_free(void *ptr, size_t size) {
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
    if (CC_UNLIKELY(cc_stats_active())) count_free(ptr);
    mi_free(ptr);
}

void cc_free_unsized(void *ptr) {
    if (ptr == NULL) return;
    if (CC_UNLIKELY(cc_stats_active())) count_free(ptr);
    mi_free(ptr);
}

size_t cc_usable_size(const void *ptr) {
    return ptr == NULL ? 0 : mi_usable_size(ptr);
}
