"""cffi declarations of native/include/sk_engine.h (the stress engine). No preprocessor lines:
the header's constants are an anonymous enum here too; struct layouts are checked against the
library at run time (sk_engine_abi_sizeof) by stresskit.engine and tests/engine."""

ENGINE_CDEF = """
enum {
    SK_MIN_BLOCK = 16,
    SK_SIZE_MAX_VALUES = 64,
    SK_HIST_BUCKETS = 512,
    SK_QUEUE_MAX_CAPACITY = 16777216,
    SK_MAX_ROLES = 64,
    SK_MAX_QUEUES = 64,
    SK_MAX_THREADS_PER_ROLE = 4096,
    SK_MAX_BATCH = 65536,
    SK_MAX_CALLOC_COUNT = 4096
};

typedef enum sk_action {
    SK_ACT_ALLOC_FREE = 0,
    SK_ACT_PRODUCE = 1,
    SK_ACT_CONSUME = 2,
    SK_ACT_RETIRE = 3,
    SK_ACT_RECLAIM = 4,
    SK_ACT_OOM = 5
} sk_action_t;

typedef enum sk_size_kind {
    SK_SIZE_FIXED = 0,
    SK_SIZE_UNIFORM = 1,
    SK_SIZE_CHOICE = 2
} sk_size_kind_t;

typedef enum sk_op {
    SK_OP_ALLOC = 0,
    SK_OP_FREE = 1,
    SK_OP_HANDOFF = 2,
    SK_OP_LIFETIME = 3,
    SK_OP_COUNT = 4
} sk_op_t;

typedef enum sk_oom_mechanism {
    SK_OOM_MIMALLOC_ARENA = 0,
    SK_OOM_RLIMIT_AS = 1
} sk_oom_mechanism_t;

typedef struct sk_role_config {
    int32_t action;
    int32_t kind;
    uint32_t threads;
    int32_t inbox;
    int32_t outbox;
    uint32_t free_unsized;
    uint64_t alignment;
    uint64_t batch;
    int32_t size_kind;
    uint32_t size_count;
    uint64_t size_values[64];
    double size_weights[64];
    uint64_t epoch_every;
    uint64_t grace_epochs;
    uint64_t grace_ns;
    uint64_t memory_limit_bytes;
    double oom_free_fraction;
    int32_t oom_mechanism;
    int32_t reserved0;
    uint64_t edge_probe_every;
    uint64_t calloc_count_max;
    uint64_t limbo_max;
    uint64_t writes;
    uint64_t live_set;
    uint64_t handover_every;
} sk_role_config_t;

typedef struct sk_role_stats {
    uint64_t ops;
    uint64_t allocs;
    uint64_t frees;
    uint64_t failed_allocs;
    uint64_t bytes_allocated;
    uint64_t bytes_freed;
    uint64_t canary_failures;
    uint64_t double_handoffs;
    uint64_t full_retries;
    uint64_t empty_retries;
    uint64_t warmup_ops;
    uint64_t elapsed_ns;
    int64_t max_threads_inside;
    uint64_t threads_done;
    uint64_t min_age_at_free_ns;
    uint64_t min_epochs_at_free;
    uint64_t retired_blocks;
    uint64_t oom_null_returns;
    uint64_t oom_bytes_before_null;
    uint64_t oom_blocks_before_null;
    uint64_t oom_recovered;
    uint64_t oom_limit_applied;
    uint64_t oom_hit_safety_cap;
    uint64_t oom_peak_bytes;
    uint64_t writes;
    uint64_t foreign_writes;
    uint64_t handovers;
    uint64_t handover_blocks;
    uint64_t foreign_frees;
} sk_role_stats_t;

typedef struct sk_run_totals {
    uint64_t blocks_allocated;
    uint64_t blocks_freed;
    uint64_t bytes_allocated;
    uint64_t bytes_freed;
    uint64_t blocks_reaped;
    uint64_t bytes_reaped;
    uint64_t reap_canary_failures;
    uint64_t reap_double_handoffs;
    uint64_t unreclaimed_blocks;
    uint64_t unreclaimed_bytes;
    uint64_t unreclaimed_peak_blocks;
    uint64_t unreclaimed_peak_bytes;
    uint64_t epoch;
    int64_t max_threads_inside;
    uint64_t elapsed_ns;
    uint64_t serials_used;
    double unreclaimed_byte_ns;
    double unreclaimed_block_ns;
} sk_run_totals_t;

typedef struct sk_checks {
    uint64_t misaligned;
    uint64_t short_blocks;
    uint64_t calloc_dirty;
    uint64_t bad_errno;
    uint64_t size0_blocks;
    uint64_t invalid_accepted;
    uint64_t overflow_accepted;
    uint64_t probes;
    uint64_t allocs;
    uint64_t frees;
    uint64_t usable_allocated;
    uint64_t usable_freed;
    uint64_t enomem_nulls;
    uint64_t mimalloc_leaked_blocks;
    uint64_t mimalloc_leaked_bytes;
    uint64_t timer_overhead_ns;
} sk_checks_t;

typedef struct sk_run sk_run_t;
typedef struct sk_queue sk_queue_t;

sk_run_t *sk_run_create(uint64_t seed, uint32_t latency_sample_every);
int32_t sk_run_add_queue(sk_run_t *run, uint64_t capacity);
int32_t sk_run_add_role(sk_run_t *run, const sk_role_config_t *config);
int32_t sk_run_prepare(sk_run_t *run, uint64_t total_ops, uint64_t warmup_ops);
int32_t sk_run_limit_tracked(sk_run_t *run, uint64_t serials);
int32_t sk_run_checks_off(sk_run_t *run, uint32_t mask);
void sk_run_phases(const sk_run_t *run, uint64_t *startup_ns, uint64_t *warmup_ns, uint64_t *measured_ns);
void sk_run_start(sk_run_t *run);
int32_t sk_role_step(sk_run_t *run, uint32_t role, uint32_t thread, uint64_t budget_ns);
void sk_run_request_stop(sk_run_t *run);
void sk_run_abort(sk_run_t *run);
void sk_run_sample(sk_run_t *run);
uint64_t sk_run_progress(const sk_run_t *run);
void sk_run_drain(sk_run_t *run);
int32_t sk_run_role_stats(const sk_run_t *run, uint32_t role, sk_role_stats_t *out);
uint64_t sk_run_role_hist(const sk_run_t *run, uint32_t role, uint32_t op, uint64_t *buckets,
                          uint64_t *max_ns);
void sk_run_totals(const sk_run_t *run, sk_run_totals_t *out);
size_t sk_run_series(const sk_run_t *run, uint64_t *t_ns, uint64_t *blocks, uint64_t *bytes,
                     size_t cap);
int32_t sk_run_role_checks(const sk_run_t *run, uint32_t role, sk_checks_t *out);
void sk_run_checks(const sk_run_t *run, sk_checks_t *out);
uint64_t sk_run_mimalloc_leaks(sk_run_t *run);
void sk_run_destroy(sk_run_t *run);

uint32_t sk_hist_bucket_index(uint64_t ns);
uint64_t sk_hist_bucket_lower(uint32_t index);

sk_queue_t *sk_queue_create(uint64_t capacity);
void sk_queue_destroy(sk_queue_t *queue);
uint64_t sk_queue_capacity(const sk_queue_t *queue);
bool sk_queue_push(sk_queue_t *queue, uint64_t value);
bool sk_queue_pop(sk_queue_t *queue, uint64_t *value);
uint64_t sk_queue_test_produce(sk_queue_t *queue, uint64_t first, uint64_t count,
                               sk_overlap_t *probe);
uint64_t sk_queue_test_consume(sk_queue_t *queue, uint64_t *out, uint64_t cap,
                               uint64_t sentinel, sk_overlap_t *probe);

void sk_engine_testing_corrupt_next(sk_run_t *run, uint64_t count);
void sk_engine_testing_double_handoff_next(sk_run_t *run, uint64_t count);
void sk_engine_testing_leak_next(sk_run_t *run, uint64_t count);
void sk_engine_testing_hook_role(sk_run_t *run, int32_t hook, int32_t role);

typedef struct sk_leak_record {
    uint64_t address;
    uint64_t size;
    uint64_t serial;
    uint64_t alloc_index;
    uint32_t alloc_who;
    uint32_t state;
    uint32_t freer;
    uint32_t retirer;
    uint64_t born_ns;
    uint64_t freed_ns;
    uint64_t retire_epoch;
    uint64_t retire_ns;
} sk_leak_record_t;

typedef struct sk_leak_group {
    uint32_t alloc_who, state, freer, size_class;
    uint64_t blocks, bytes;
} sk_leak_group_t;

typedef struct sk_damage {
    uint64_t address, size, usable, serial, alloc_index;
    uint32_t alloc_who;
    uint32_t finder;
    uint32_t retirer;
    uint32_t region;
    uint64_t born_ns, retire_ns, retire_epoch, found_ns;
    uint64_t offset;
    uint64_t window_start;
    uint32_t window_len, checked;
    uint8_t actual[32];
    uint8_t expected[32];
} sk_damage_t;

typedef struct sk_double {
    uint64_t address, size, serial, alloc_index;
    uint32_t alloc_who, loser, winner, state;
    int32_t queue;
    uint32_t reserved;
    uint64_t born_ns, found_ns;
} sk_double_t;

size_t sk_run_leak_records(const sk_run_t *run, sk_leak_record_t *out, size_t cap);
size_t sk_run_leak_groups(const sk_run_t *run, sk_leak_group_t *out, size_t cap);
uint64_t sk_run_inflight(const sk_run_t *run, uint64_t *blocks, uint64_t *bytes);
uint64_t sk_run_damaged(const sk_run_t *run, sk_damage_t *out, size_t cap);
uint64_t sk_run_doubles(const sk_run_t *run, sk_double_t *out, size_t cap);
size_t sk_engine_abi_sizeof(int32_t which);
uint64_t sk_oom_min_limit(void);

uint64_t sk_run_invariants(const sk_run_t *run, int32_t drained, uint64_t *counts);
const char *sk_invariant_name(uint32_t reason);
int32_t sk_engine_testing_break_invariant(sk_run_t *run, uint32_t reason);

size_t sk_run_thread_states(const sk_run_t *run, uint32_t *states, uint64_t *heartbeats, size_t cap);
int32_t sk_crash_handler_install(int32_t fd);
int32_t sk_engine_testing_hold_role(sk_run_t *run, uint32_t role);
int32_t sk_engine_testing_crash_role(sk_run_t *run, uint32_t role);
int32_t sk_engine_testing_recirculate(sk_run_t *run);
"""
