"""C declarations of the benchmark harness (native/include/sk_bench.h), for cffi ABI mode.

Kept in step with the header by tests/bench/test_harness.py, which checks that every CC_API
function of sk_bench.h is declared here.
"""

BENCH_CDEF = """
typedef enum sk_bench_impl {
    SK_BENCH_CC = 0,
    SK_BENCH_CC_STATS = 1,
    SK_BENCH_MIMALLOC = 2,
    SK_BENCH_SYSTEM = 3
} sk_bench_impl_t;

typedef enum sk_bench_op {
    SK_BENCH_ALLOC = 0,
    SK_BENCH_FREE = 1,
    SK_BENCH_ALIGNED_ALLOC = 2,
    SK_BENCH_CROSS_THREAD_FREE = 3,
    SK_BENCH_THROUGHPUT = 4
} sk_bench_op_t;

typedef struct sk_bench_spec {
    sk_bench_op_t op;
    sk_bench_impl_t impl;
    uint32_t threads;
    size_t size;
    size_t alignment;
    uint64_t ops;
    uint32_t duration_ms;
    uint64_t warmup_ops;
    uint64_t seed;
} sk_bench_spec_t;

typedef struct sk_bench_result {
    uint64_t ops;
    int64_t elapsed_ns;
    double ns_per_op;
    double ops_per_s;
    uint64_t failures;
    int64_t max_inside;
} sk_bench_result_t;

int sk_bench_run(const sk_bench_spec_t *spec, sk_bench_result_t *out);
const char *sk_bench_compiler(void);
const char *sk_bench_system_allocator(void);
bool sk_bench_optimized(void);
"""
