"""C declarations of the native library, for cffi (ABI mode: no compiler needed at import).

Mirrors native/include/{cc_alloc.h,cc_alloc_testing.h,sk_batch.h}; tests/glue/test_binding.py checks that
every exported function of those headers is declared here. `_Atomic` fields are declared as their
plain type (same size and layout).
"""

GLUE_CDEF = """
typedef struct cc_alloc_stats {
    uint64_t alloc_count;
    uint64_t free_count;
    uint64_t alloc_bytes;
    uint64_t free_bytes;
    uint64_t current_allocated;
    uint64_t failed_count;
} cc_alloc_stats_t;

void *cc_alloc(size_t size);
void *cc_calloc(size_t count, size_t size);
void *cc_alloc_aligned(size_t size, size_t alignment);
void *cc_alloc_node(size_t size);
void cc_free(void *ptr, size_t size);
void cc_free_unsized(void *ptr);
size_t cc_usable_size(const void *ptr);

void cc_alloc_stats_enable(bool enabled);
bool cc_alloc_stats_enabled(void);
cc_alloc_stats_t cc_alloc_stats_snapshot(void);
void cc_alloc_stats_get(cc_alloc_stats_t *out);
void cc_alloc_stats_reset(void);

const char *cc_glue_version(void);
int cc_mimalloc_version(void);
size_t cc_cache_line_size(void);

void cc_alloc_stats_testing_bump(uint64_t delta);
"""

BATCH_CDEF = """
typedef enum sk_kind {
    SK_KIND_PLAIN = 0,
    SK_KIND_CALLOC = 1,
    SK_KIND_ALIGNED = 2,
    SK_KIND_NODE = 3
} sk_kind_t;

typedef struct sk_overlap {
    int64_t inside;
    int64_t max_inside;
    int64_t arrived;
} sk_overlap_t;

bool sk_rendezvous(sk_overlap_t *probe, int64_t parties, int64_t timeout_ms);
size_t sk_batch_alloc(void **out, size_t n, const size_t *sizes, size_t size, sk_kind_t kind,
                      size_t alignment, uint64_t seed, sk_overlap_t *probe);
size_t sk_batch_free(void **blocks, size_t n, const size_t *sizes, size_t size, bool unsized,
                     uint64_t seed, sk_overlap_t *probe);
size_t sk_alloc_free_loop(size_t iterations, size_t batch, size_t size, sk_kind_t kind,
                          size_t alignment, uint64_t seed, sk_overlap_t *probe);
uint64_t sk_mimalloc_live_blocks(uint64_t *bytes);
"""

from stresskit._cdefs_bench import BENCH_CDEF  # noqa: E402
from stresskit._cdefs_bench_engine import BENCH_ENGINE_CDEF  # noqa: E402
from stresskit._cdefs_engine import ENGINE_CDEF  # noqa: E402

ALL_CDEFS = [c for c in (GLUE_CDEF, BATCH_CDEF, ENGINE_CDEF, BENCH_CDEF, BENCH_ENGINE_CDEF) if c.strip()]
