"""C declarations of the engine-vs-loop benchmark (native/include/sk_bench_engine.h), for cffi ABI
mode. Kept in step with the header by tests/bench/test_engine_row.py."""

BENCH_ENGINE_CDEF = """
typedef struct sk_spsc_spec {
    uint32_t mode;
    uint32_t checks_off;
    uint32_t invariants;
    uint32_t latency_sample_every;
    uint64_t blocks;
    uint64_t warmup_blocks;
    uint64_t size;
    uint64_t capacity;
    uint64_t budget_ns;
    uint64_t seed;
} sk_spsc_spec_t;

typedef struct sk_spsc_result {
    uint64_t blocks;
    int64_t elapsed_ns;
    double blocks_per_s;
    double ns_per_block;
    uint64_t bad_blocks;
    uint64_t empty_retries;
    uint64_t full_retries;
    int64_t max_inside;
} sk_spsc_result_t;

int sk_bench_spsc(const sk_spsc_spec_t *spec, sk_spsc_result_t *out);

typedef struct sk_handoff_result {
    double round_trip_ns;
    double min_round_trip_ns;
    double max_round_trip_ns;
    int32_t cpu_a, cpu_b;
} sk_handoff_result_t;

int sk_bench_handoff(uint32_t round_trips, uint32_t batches, sk_handoff_result_t *out);
"""
