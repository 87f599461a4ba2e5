/* cc_alloc.h — the allocation glue of stresskit's target: a thin C11 layer over mimalloc.
 *
 * Lock-free containers allocate their nodes here. Blocks may be freed by any thread (mimalloc
 * handles cross-thread frees). Every function is safe to call from any thread at any time.
 *
 * Contract shared by every allocation function:
 *   - a request for 0 bytes returns NULL and leaves errno untouched (nothing to allocate);
 *   - a request that cannot be met (size too large, overflow, out of memory) returns NULL with
 *     errno = ENOMEM; it never aborts and never prints;
 *   - an invalid argument (bad alignment) returns NULL with errno = EINVAL.
 * Statistics count only successful allocations and frees of non-NULL pointers.
 */
#ifndef CC_ALLOC_H
#define CC_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(CC_BUILDING_LIBRARY)
#    define CC_API __declspec(dllexport)
#  else
#    define CC_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define CC_API __attribute__((visibility("default")))
#else
#  define CC_API
#endif

/* The cache-line size that cc_alloc_node() aligns to: 128 bytes on Apple arm64 (its L2 line and
 * the unit of false sharing there), 64 bytes elsewhere. */
#if defined(__APPLE__) && defined(__aarch64__)
#  define CC_CACHE_LINE_SIZE 128
#else
#  define CC_CACHE_LINE_SIZE 64
#endif

/* Version of this glue as "MAJOR.MINOR.PATCH". */
#define CC_GLUE_VERSION "0.1.0"

/* ---------------------------------------------------------------------------------------------
 * Allocation
 * ------------------------------------------------------------------------------------------- */

/* Allocate `size` bytes aligned to at least alignof(max_align_t) (16 on 64-bit platforms).
 * Returns NULL for size 0 and when the request cannot be met (errno = ENOMEM). */
CC_API void *cc_alloc(size_t size);

/* Allocate `count * size` zeroed bytes. Returns NULL when the product is 0 (errno untouched) or
 * overflows size_t or cannot be met (errno = ENOMEM). */
CC_API void *cc_calloc(size_t count, size_t size);

/* Allocate `size` bytes whose address is a multiple of `alignment`.
 * `alignment` must be a power of two and at least sizeof(void *); anything else returns NULL with
 * errno = EINVAL (mimalloc itself would return NULL and leave errno 0; we make the error visible).
 * Page (4096) and larger alignments are supported. Size 0 returns NULL, errno untouched. */
CC_API void *cc_alloc_aligned(size_t size, size_t alignment);

/* Allocate a node for a concurrent data structure: aligned to CC_CACHE_LINE_SIZE and with its size
 * rounded up to a whole number of cache lines, so two nodes never share a line (no false sharing).
 * Size 0 returns NULL; a size whose rounding overflows returns NULL with errno = ENOMEM. */
CC_API void *cc_alloc_node(size_t size);

/* ---------------------------------------------------------------------------------------------
 * Free
 * ------------------------------------------------------------------------------------------- */

/* Free a block from any cc_alloc* function, on any thread. `size` is the size that was requested
 * (callers of lock-free structures know it); it is a hint — release builds of mimalloc ignore it,
 * debug builds (CC_DEBUG) check it does not exceed the block. NULL is a no-op. */
CC_API void cc_free(void *ptr, size_t size);

/* Free a block whose size the caller does not know. Same as cc_free otherwise; NULL is a no-op. */
CC_API void cc_free_unsized(void *ptr);

/* Usable size of a live block (>= the size requested; 0 for NULL). This is the size statistics
 * count, see below. */
CC_API size_t cc_usable_size(const void *ptr);

/* ---------------------------------------------------------------------------------------------
 * Statistics
 *
 * Off by default. While off, the hot path reads one flag and writes no shared memory.
 * While on, each thread counts into its own cache-line-padded record (single writer, plain relaxed
 * stores: no locked instruction, no shared line); a snapshot sums all records. Records are reused
 * by later threads, so a thread's counts survive its exit and memory stays bounded by the peak
 * number of threads alive at once.
 *
 * Bytes are counted as the block's usable size (cc_usable_size), not the size requested. That is
 * what the block really holds from the allocator, and it is what makes cc_free_unsized() count
 * bytes exactly like cc_free(): alloc_bytes - free_bytes is exact whatever free was used.
 *
 * Snapshot guarantee: the snapshot is not one global instant. It includes every operation that
 * happens-before the call (e.g. done by a thread since joined, or published to the caller through a
 * lock or an acquire/release atomic); operations racing with the call may be seen in some fields and
 * not in others. So once writers are quiescent (joined, or synchronised with), a snapshot is exact;
 * while they run, it is a consistent-per-field estimate and current_allocated may be briefly off. Enabling or disabling while other threads
 * allocate only decides, per operation, whether it is counted: a block allocated while off and
 * freed while on is counted as a free only (current_allocated then underflows and wraps). One
 * exception: an allocation of up to 1 KiB that has started counted when statistics are switched
 * off, and then fails, stays counted as an allocation (docs/c-api.md, "How a call is counted").
 * All counters are uint64_t and wrap modulo 2^64.
 * ------------------------------------------------------------------------------------------- */

typedef struct cc_alloc_stats {
    uint64_t alloc_count;       /* successful allocations */
    uint64_t free_count;        /* frees of non-NULL pointers (sized and unsized) */
    uint64_t alloc_bytes;       /* usable bytes allocated */
    uint64_t free_bytes;        /* usable bytes freed */
    uint64_t current_allocated; /* alloc_bytes - free_bytes (mod 2^64): bytes live right now */
    uint64_t failed_count;      /* requests that could not be met (ENOMEM); size 0 and invalid
                                   alignment (EINVAL) are not counted */
} cc_alloc_stats_t;

/* Turn counting on or off for every thread. Counters keep their values while off. */
CC_API void cc_alloc_stats_enable(bool enabled);

/* Whether counting is on. */
CC_API bool cc_alloc_stats_enabled(void);

/* Sum of all threads' counters (living and exited) since the last reset; see the guarantee above. */
CC_API cc_alloc_stats_t cc_alloc_stats_snapshot(void);

/* Same as cc_alloc_stats_snapshot(), written to *out (for FFIs that cannot return structs). */
CC_API void cc_alloc_stats_get(cc_alloc_stats_t *out);

/* Make the next snapshot start from zero. Implemented as a baseline, not by writing into other
 * threads' records, so it never races with their counting: an operation concurrent with the reset
 * is counted either before or after it, never lost twice. */
CC_API void cc_alloc_stats_reset(void);

/* ---------------------------------------------------------------------------------------------
 * Identity
 * ------------------------------------------------------------------------------------------- */

/* CC_GLUE_VERSION of the library actually loaded. */
CC_API const char *cc_glue_version(void);

/* The linked mimalloc version as mimalloc reports it (MAJOR*10000 + MINOR*100 + PATCH, e.g. 30403 for 3.4.3). */
CC_API int cc_mimalloc_version(void);

/* CC_CACHE_LINE_SIZE of the library actually loaded. */
CC_API size_t cc_cache_line_size(void);

#ifdef __cplusplus
}
#endif

#endif /* CC_ALLOC_H */
