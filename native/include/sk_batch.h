/* sk_batch.h — native batches over the cc_* glue, for callers that must not loop in an
 * interpreter (Python tests and tools). Each call does all its work in C; bindings that release
 * the GIL (cffi does) let several threads run batches truly at once.
 *
 * Every block a batch allocates is filled with a per-block pattern derived from `seed` and the
 * block's address; sk_batch_free verifies it before freeing, so corruption is counted, not missed.
 */
#ifndef SK_BATCH_H
#define SK_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc_alloc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which cc_* function allocates. */
typedef enum sk_kind {
    SK_KIND_PLAIN = 0,   /* cc_alloc */
    SK_KIND_CALLOC = 1,  /* cc_calloc(1, size) (zeroing verified before the pattern is written) */
    SK_KIND_ALIGNED = 2, /* cc_alloc_aligned(size, alignment) */
    SK_KIND_NODE = 3     /* cc_alloc_node */
} sk_kind_t;

/* Evidence that threads really ran native code at the same time. Zero-initialise; share one per
 * test. `inside` is how many threads are in a batch now, `max_inside` the most ever seen at once. */
typedef struct sk_overlap {
    _Atomic int64_t inside;
    _Atomic int64_t max_inside;
    _Atomic int64_t arrived;
} sk_overlap_t;

/* Block until `parties` threads have called this on `probe`, or `timeout_ms` passes.
 * Returns true if all arrived (then they were all in native code at once: a thread holding an
 * interpreter lock would have kept the others out). Each probe serves one rendezvous. */
CC_API bool sk_rendezvous(sk_overlap_t *probe, int64_t parties, int64_t timeout_ms);

/* Allocate `n` blocks into out[0..n). Size of block i is sizes[i] if `sizes` is not NULL, else
 * `size`. Returns how many allocations succeeded (failed slots hold NULL). `probe` may be NULL. */
CC_API size_t sk_batch_alloc(void **out, size_t n, const size_t *sizes, size_t size, sk_kind_t kind,
                             size_t alignment, uint64_t seed, sk_overlap_t *probe);

/* Verify and free blocks[0..n) (NULL slots skipped), sized (cc_free) or unsized (cc_free_unsized).
 * Sizes as in sk_batch_alloc. Returns the number of blocks whose pattern was damaged; each slot is
 * set to NULL. `probe` may be NULL. */
CC_API size_t sk_batch_free(void **blocks, size_t n, const size_t *sizes, size_t size, bool unsized,
                            uint64_t seed, sk_overlap_t *probe);

/* `iterations` rounds of: allocate `batch` blocks of `size` (kind as above), verify and free them.
 * Returns the number of failed allocations plus damaged blocks (0 when all is well). */
CC_API size_t sk_alloc_free_loop(size_t iterations, size_t batch, size_t size, sk_kind_t kind,
                                 size_t alignment, uint64_t seed, sk_overlap_t *probe);

/* mimalloc's own count of blocks it holds as allocated right now (every thread's, after
 * collecting pending cross-thread frees); their total size into *bytes (may be NULL). Independent
 * of the glue's statistics: a free the glue counted but never passed on shows here. */
CC_API uint64_t sk_mimalloc_live_blocks(uint64_t *bytes);

#ifdef __cplusplus
}
#endif

#endif /* SK_BATCH_H */
