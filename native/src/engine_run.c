/* The run object: building it from a plan, sampling it while it runs, draining and reading it
 * afterwards, releasing it. */
#include "engine_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

sk_run_t *sk_run_create(uint64_t seed, uint32_t latency_sample_every) {
    sk_run_t *run = sk_aligned_alloc(SK_CACHE_LINE, sizeof(sk_run_t));
    if (run == NULL) return NULL;
    memset(run, 0, sizeof *run);
    static _Atomic uint64_t runs_created = 0;
    run->seed = seed;
    run->identity_key = sk_mix(seed ^ sk_mix(atomic_fetch_add(&runs_created, 1)));
    run->sample_every = latency_sample_every == 0 ? 1 : latency_sample_every;
    run->roles = sk_aligned_alloc(SK_CACHE_LINE, SK_MAX_ROLES * sizeof(sk_role_t));
    run->queues = sk_aligned_alloc(SK_CACHE_LINE, SK_MAX_QUEUES * sizeof(sk_queue_t));
    run->own_dir = calloc(SK_OWN_MAX_CHUNKS, sizeof *run->own_dir);
    if (run->roles == NULL || run->queues == NULL || run->own_dir == NULL) {
        sk_aligned_free(run->roles);
        sk_aligned_free(run->queues);
        free((void *)run->own_dir);
        sk_aligned_free(run);
        return NULL;
    }
    atomic_init(&run->stop, false);
    atomic_init(&run->abort_now, false);
    atomic_init(&run->epoch, 1);
    atomic_init(&run->unreclaimed_blocks, 0);
    atomic_init(&run->unreclaimed_bytes, 0);
    atomic_init(&run->peak_blocks, 0);
    atomic_init(&run->peak_bytes, 0);
    atomic_init(&run->inside, 0);
    atomic_init(&run->max_inside, 0);
    atomic_init(&run->progress, 0);
    atomic_init(&run->arrived, 0);
    atomic_init(&run->t_last_end, 0);
    atomic_init(&run->next_chunk, 0);
    atomic_init(&run->corrupt_pending, 0);
    atomic_init(&run->dup_pending, 0);
    atomic_init(&run->leak_pending, 0);
    atomic_init(&run->oom_state, 0);
    atomic_init(&run->oom_ready, 0);
    atomic_init(&run->oom_full, 0);
    atomic_init(&run->oom_freed, 0);
    atomic_init(&run->oom_finished, 0);
    atomic_init(&run->oom_held, 0);
    atomic_init(&run->oom_held_at_null, 0);
    atomic_init(&run->oom_held_peak, 0);
    run->own_chunks_max = SK_OWN_MAX_CHUNKS;
    run->series_stride = 1;
    return run;
}

int32_t sk_run_limit_tracked(sk_run_t *run, uint64_t serials) {
    if (run == NULL || run->prepared || serials == 0) return -1;
    uint64_t chunks = (serials >> SK_OWN_CHUNK_BITS) + ((serials & ((UINT64_C(1) << SK_OWN_CHUNK_BITS) - 1)) != 0);
    run->own_chunks_max = chunks < SK_OWN_MAX_CHUNKS ? chunks : SK_OWN_MAX_CHUNKS;
    return 0;
}

int32_t sk_run_checks_off(sk_run_t *run, uint32_t mask) {
    if (run == NULL || run->prepared || (mask & ~(uint32_t)SK_OFF_ALL) != 0) return -1;
    run->checks_off = mask;
    return 0;
}

int32_t sk_run_add_queue(sk_run_t *run, uint64_t capacity) {
    if (run == NULL || run->prepared || run->nqueues >= SK_MAX_QUEUES) return -1;
    if (!sk_queue_init(&run->queues[run->nqueues], capacity)) return -1;
    return (int32_t)run->nqueues++;
}

static bool queue_ok(const sk_run_t *run, int32_t q) { return q >= 0 && (uint32_t)q < run->nqueues; }

static bool config_ok(const sk_run_t *run, const sk_role_config_t *c) {
    if (c->action < SK_ACT_ALLOC_FREE || c->action > SK_ACT_OOM) return false;
    if (c->kind < SK_KIND_PLAIN || c->kind > SK_KIND_NODE) return false;
    if (c->threads == 0 || c->threads > SK_MAX_THREADS_PER_ROLE) return false;
    if (c->batch == 0 || c->batch > SK_MAX_BATCH) return false;
    const uint64_t max_size = UINT64_C(1) << 40;
    switch (c->size_kind) {
        case SK_SIZE_FIXED: if (c->size_count < 1) return false; break;
        case SK_SIZE_UNIFORM:
            if (c->size_count != 2 || c->size_values[0] > c->size_values[1]) return false;
            break;
        case SK_SIZE_CHOICE: if (c->size_count < 1 || c->size_count > SK_SIZE_MAX_VALUES) return false; break;
        case SK_SIZE_LOG_UNIFORM:
            if (c->size_count != 2 || c->size_values[0] > c->size_values[1]) return false;
            break;
        default: return false;
    }
    if (!sk_wl_config_ok(c)) return false;
    uint32_t used = c->size_kind == SK_SIZE_FIXED ? 1 : c->size_count;
    for (uint32_t i = 0; i < used; i++) {
        if (c->size_values[i] == 0 || c->size_values[i] > max_size) return false;
        if (c->size_kind == SK_SIZE_CHOICE && (!isfinite(c->size_weights[i]) || c->size_weights[i] < 0))
            return false;
    }
    if (c->limbo_max > SK_MAX_LIMBO) return false;
    if (c->calloc_count_max > SK_MAX_CALLOC_COUNT || (c->calloc_count_max > 1 && c->kind != SK_KIND_CALLOC)) return false;
    for (uint32_t i = 0; c->calloc_count_max > 1 && i < used; i++)
        if (c->size_values[i] > max_size / c->calloc_count_max) return false;
    if (c->kind == SK_KIND_ALIGNED &&
        (c->alignment < 8 || c->alignment > (UINT64_C(1) << 20) || (c->alignment & (c->alignment - 1)) != 0))
        return false;
    bool in = c->inbox != -1, out = c->outbox != -1;
    if ((in && !queue_ok(run, c->inbox)) || (out && !queue_ok(run, c->outbox))) return false;
    switch (c->action) {
        case SK_ACT_ALLOC_FREE: return !in && !out;
        case SK_ACT_PRODUCE: return !in && out;
        case SK_ACT_CONSUME:
        case SK_ACT_RECLAIM: return in && !out;
        case SK_ACT_RETIRE: return in && out && c->inbox != c->outbox;
        case SK_ACT_OOM:
            return !in && !out && c->memory_limit_bytes > 0 && c->oom_free_fraction >= 0 &&
                   c->oom_free_fraction <= 1 &&
                   (c->oom_mechanism == SK_OOM_MIMALLOC_ARENA || c->oom_mechanism == SK_OOM_RLIMIT_AS);
        default: return false;
    }
}

int32_t sk_run_add_role(sk_run_t *run, const sk_role_config_t *config) {
    if (run == NULL || config == NULL || run->prepared || run->nroles >= SK_MAX_ROLES) return -1;
    if (!config_ok(run, config)) return -1;
    sk_role_t *r = &run->roles[run->nroles];
    memset(r, 0, sizeof *r);
    r->cfg = *config;
    if (r->cfg.size_kind == SK_SIZE_FIXED) r->cfg.size_count = 1;
    if (r->cfg.size_kind == SK_SIZE_CHOICE) {
        double acc = 0;
        for (uint32_t i = 0; i < r->cfg.size_count; i++) {
            acc += r->cfg.size_weights[i];
            r->cum_weights[i] = acc;
        }
        r->total_weight = acc;
    }
    if (r->cfg.action == SK_ACT_RECLAIM && r->cfg.limbo_max == 0) {
        uint64_t derived = 4 * run->queues[r->cfg.inbox].mask + 4; /* 4 x the inbox's capacity */
        r->cfg.limbo_max = derived < SK_MIN_LIMBO ? SK_MIN_LIMBO : derived > SK_MAX_LIMBO ? SK_MAX_LIMBO : derived;
    }
    atomic_init(&r->inside, 0);
    atomic_init(&r->max_inside, 0);
    return (int32_t)run->nroles++;
}

static bool allocating(int32_t action) { return action == SK_ACT_PRODUCE || action == SK_ACT_ALLOC_FREE; }

int32_t sk_run_prepare(sk_run_t *run, uint64_t total_ops, uint64_t warmup_ops) {
    if (run == NULL || run->prepared) return -1;
    uint64_t alloc_threads = 0;
    for (uint32_t i = 0; i < run->nroles; i++) {
        const sk_role_config_t *c = &run->roles[i].cfg;
        if (c->outbox >= 0) run->queues[c->outbox].upstream_total += c->threads;
        if (c->inbox >= 0) run->queues[c->inbox].downstream_total += c->threads;
        if (allocating(c->action)) alloc_threads += c->threads;
        if (c->action == SK_ACT_OOM) run->oom_threads += c->threads;
        run->total_threads += c->threads;
    }
    for (uint32_t q = 0; q < run->nqueues; q++) {
        run->queues[q].solo_push = run->queues[q].upstream_total == 1;
        run->queues[q].solo_pop = run->queues[q].downstream_total == 1;
        run->queues[q].spsc = run->queues[q].solo_push && run->queues[q].solo_pop;
    }
    uint64_t alloc_index = 0, global_index = 0;
    for (uint32_t i = 0; i < run->nroles; i++) {
        sk_role_t *r = &run->roles[i];
        r->threads = sk_aligned_alloc(SK_CACHE_LINE, r->cfg.threads * sizeof(sk_thread_t));
        if (r->threads == NULL) return -1;
        memset(r->threads, 0, r->cfg.threads * sizeof(sk_thread_t));
        for (uint32_t j = 0; j < r->cfg.threads; j++) {
            sk_thread_t *t = &r->threads[j];
            t->role = i;
            t->index = j;
            t->global_index = (uint32_t)global_index++;
            t->rng = sk_mix(run->seed ^ sk_mix(((uint64_t)i << 32) | j));
            t->min_age_ns = UINT64_MAX;
            t->min_epochs = UINT64_MAX;
            t->quota = UINT64_MAX;
            t->sample_rng = sk_mix(t->rng ^ 0x5A4D504C45ull); /* "SAMPLE": its own stream */
            t->op_tick = sk_sample_gap(run->sample_every, &t->sample_rng);
            t->probe_tick = r->cfg.edge_probe_every;
            t->watch_off = (run->checks_off & SK_OFF_HEARTBEAT) != 0;
            t->hist = calloc(SK_OP_COUNT, sizeof(sk_hist_t));
            if (t->hist == NULL) return -1;
            if (allocating(r->cfg.action)) {
                if (total_ops > 0)
                    t->quota = total_ops / alloc_threads + (alloc_index < total_ops % alloc_threads ? 1 : 0);
                alloc_index++;
                t->warmup_left = warmup_ops;
            }
            if (r->cfg.action == SK_ACT_ALLOC_FREE) {
                t->buf = malloc(r->cfg.batch * sizeof(sk_entry_t));
                if (t->buf == NULL) return -1;
            }
            if (r->cfg.action == SK_ACT_RECLAIM) {
                /* The first slots now: a limbo that could not grow at run time must still have
                 * room to make progress (it then back-pressures at this size). */
                uint64_t first = 1024;
                while (first > 1 && first > r->cfg.limbo_max) first >>= 1;
                t->limbo = malloc(first * sizeof(sk_entry_t));
                if (t->limbo == NULL) return -1;
                t->limbo_cap = first;
            }
        }
    }
    if (!sk_diag_init(run)) return -1;
    run->timer_overhead_ns = sk_timer_overhead_ns();
    run->prepared = true;
    return 0;
}

void sk_run_start(sk_run_t *run) {
    if (run != NULL) run->t0 = sk_now_ns();
}

void sk_run_request_stop(sk_run_t *run) {
    if (run != NULL) atomic_store(&run->stop, true);
}

void sk_run_abort(sk_run_t *run) {
    if (run == NULL) return;
    atomic_store(&run->stop, true);
    atomic_store(&run->abort_now, true);
}

/* The series keeps at most SK_SERIES_MAX points however long the run: point i stands for the
 * calls [i * stride, (i + 1) * stride) and holds the latest of them, so the last sample taken is
 * always the last point. When the points run out, neighbours merge (stride doubles): the series
 * still spans the whole run, at half the resolution. Peaks and the time-weighted average come
 * from exact counters, not from these points, so merging loses only plotting detail. */
void sk_run_sample(sk_run_t *run) {
    if (run == NULL) return;
    uint64_t slot = run->series_calls / run->series_stride;
    if (slot > run->series_len) slot = run->series_len; /* after a failed growth: no gap */
    if (slot >= SK_SERIES_MAX) {
        for (size_t i = 0; i < SK_SERIES_MAX / 2; i++) run->series[i] = run->series[2 * i + 1];
        run->series_len = SK_SERIES_MAX / 2;
        run->series_stride *= 2;
        slot = run->series_calls / run->series_stride;
    }
    if (slot >= run->series_len && run->series_len == run->series_cap) {
        size_t cap = run->series_cap ? run->series_cap * 2 : 256;
        sk_sample_t *grown = realloc(run->series, cap * sizeof *grown);
        if (grown != NULL) {
            run->series = grown;
            run->series_cap = cap;
        } else if (run->series_len == 0) {
            return; /* a missing sample, not a failure of the run */
        } else {
            slot = run->series_len - 1; /* out of memory: the last point follows the latest */
        }
    }
    run->series_calls++;
    uint64_t now = sk_now_ns();
    if (slot >= run->series_len) run->series_len = slot + 1;
    run->series[slot] = (sk_sample_t){
        .t_ns = now > run->t0 ? now - run->t0 : 0,
        .blocks = atomic_load_explicit(&run->unreclaimed_blocks, memory_order_relaxed),
        .bytes = atomic_load_explicit(&run->unreclaimed_bytes, memory_order_relaxed),
    };
}

uint64_t sk_run_progress(const sk_run_t *run) {
    return run == NULL ? 0 : atomic_load_explicit(&((sk_run_t *)run)->progress, memory_order_relaxed);
}

size_t sk_run_series(const sk_run_t *run, uint64_t *t_ns, uint64_t *blocks, uint64_t *bytes, size_t cap) {
    if (run == NULL) return 0;
    for (size_t i = 0; i < run->series_len && i < cap; i++) {
        if (t_ns) t_ns[i] = run->series[i].t_ns;
        if (blocks) blocks[i] = run->series[i].blocks;
        if (bytes) bytes[i] = run->series[i].bytes;
    }
    return run->series_len;
}

/* Free one in-flight entry found by the drain at location code `loc` (sk_engine.h), if it is
 * still owned (a leftover duplicate is not). */
static void reap(sk_run_t *run, const sk_entry_t *e, uint32_t loc) {
    if (!sk_own_transition(run, e->serial, (1u << SK_OWN_LIVE) | (1u << SK_OWN_RETIRED), SK_OWN_FREE)) {
        run->reap_double++;
        sk_diag_double(run, e, SK_WHO_DRAIN + loc, loc < SK_MAX_QUEUES ? (int32_t)loc : -1);
        return;
    }
    sk_diag_inflight(run, e, loc);
    if (e->t_ns != 0) {
        /* it stayed unreclaimed until the run ended (the drain runs after) */
        sk_unreclaimed_sub(run, e->size);
        uint64_t end = atomic_load(&run->t_last_end);
        double age = end > e->t_ns ? (double)(end - e->t_ns) : 0.0;
        run->reap_byte_ns += (double)e->size * age;
        run->reap_block_ns += age;
    }
    if (!sk_block_free_raw(run, e, true, SK_WHO_DRAIN + loc)) run->reap_canary++;
    run->reaped_blocks++;
    run->reaped_bytes += e->size;
}

void sk_run_drain(sk_run_t *run) {
    if (run == NULL) return;
    sk_entry_t e;
    for (uint32_t q = 0; q < run->nqueues; q++)
        while (sk_queue_try_pop(&run->queues[q], &e)) reap(run, &e, q);
    if (!run->prepared) return;
    for (uint32_t i = 0; i < run->nroles; i++) {
        sk_role_t *r = &run->roles[i];
        for (uint32_t j = 0; j < r->cfg.threads; j++) {
            sk_thread_t *t = &r->threads[j];
            if (t->has_pending) {
                reap(run, &t->pending, 64 + i);
                t->has_pending = false;
            }
            for (; t->limbo_len > 0; t->limbo_len--) {
                reap(run, &t->limbo[t->limbo_head], 128 + i);
                t->limbo_head = (t->limbo_head + 1) & (t->limbo_cap - 1);
            }
            if (r->cfg.action == SK_ACT_OOM) sk_oom_release(run, t);
        }
    }
    sk_wl_drain(run);
}

void sk_run_phases(const sk_run_t *run, uint64_t *startup_ns, uint64_t *warmup_ns, uint64_t *measured_ns) {
    uint64_t first = UINT64_MAX;
    for (uint32_t i = 0; run != NULL && run->prepared && i < run->nroles; i++)
        for (uint32_t j = 0; j < run->roles[i].cfg.threads; j++) {
            const sk_thread_t *t = &run->roles[i].threads[j];
            if (t->measuring && t->t_start < first) first = t->t_start;
        }
    uint64_t t0 = run != NULL ? run->t0 : 0;
    uint64_t line = run != NULL ? atomic_load(&((sk_run_t *)run)->t_line) : 0;
    uint64_t end = run != NULL ? atomic_load(&((sk_run_t *)run)->t_last_end) : 0;
    if (line < t0) line = t0;
    if (first == UINT64_MAX || first < line) first = line; /* nothing measured, or before the line */
    if (end < first) end = first;
    if (startup_ns) *startup_ns = t0 != 0 && line > t0 ? line - t0 : 0;
    if (warmup_ns) *warmup_ns = line != 0 && first > line ? first - line : 0;
    if (measured_ns) *measured_ns = first != 0 ? end - first : 0;
}

void sk_run_reap(sk_run_t *run, const sk_entry_t *e, uint32_t loc) { reap(run, e, loc); }

int32_t sk_run_role_stats(const sk_run_t *run, uint32_t role, sk_role_stats_t *out) {
    if (run == NULL || out == NULL || !run->prepared || role >= run->nroles) return -1;
    const sk_role_t *r = &run->roles[role];
    memset(out, 0, sizeof *out);
    out->min_age_at_free_ns = UINT64_MAX;
    out->min_epochs_at_free = UINT64_MAX;
    uint64_t first = UINT64_MAX, last = 0;
    bool all_recovered = true, any_oom = false;
    for (uint32_t j = 0; j < r->cfg.threads; j++) {
        const sk_thread_t *t = &r->threads[j];
        out->ops += t->ops;
        out->allocs += t->allocs;
        out->frees += t->frees;
        out->failed_allocs += t->failed_allocs;
        out->bytes_allocated += t->bytes_allocated;
        out->bytes_freed += t->bytes_freed;
        out->canary_failures += t->canary_failures;
        out->double_handoffs += t->double_handoffs;
        out->full_retries += t->full_retries;
        out->empty_retries += t->empty_retries;
        out->warmup_ops += t->warmup_ops;
        out->retired_blocks += t->retired;
        sk_wl_stats(t, out);
        if (t->finished) out->threads_done++;
        if (t->min_age_ns < out->min_age_at_free_ns) out->min_age_at_free_ns = t->min_age_ns;
        if (t->min_epochs < out->min_epochs_at_free) out->min_epochs_at_free = t->min_epochs;
        if (t->measuring) {
            uint64_t end = t->finished ? t->t_end : sk_now_ns();
            if (t->t_start < first) first = t->t_start;
            if (end > last) last = end;
        }
        if (r->cfg.action == SK_ACT_OOM) {
            any_oom = true;
            out->oom_null_returns += t->oom_null_returns;
            out->oom_blocks_before_null += t->oom_blocks_before_null;
            out->oom_limit_applied |= t->oom_limit_applied;
            out->oom_hit_safety_cap |= t->oom_hit_cap;
            all_recovered &= t->oom_recovered != 0;
        }
    }
    out->oom_recovered = any_oom && all_recovered ? 1 : 0;
    /* the bound is the run's, so is what its threads held together when it was first hit */
    if (any_oom) {
        out->oom_bytes_before_null = atomic_load(&((sk_run_t *)run)->oom_held_at_null);
        out->oom_peak_bytes = atomic_load(&((sk_run_t *)run)->oom_held_peak);
    }
    out->elapsed_ns = last > first ? last - first : 0;
    out->max_threads_inside = atomic_load(&((sk_role_t *)r)->max_inside);
    return 0;
}

uint64_t sk_run_role_hist(const sk_run_t *run, uint32_t role, uint32_t op, uint64_t *buckets, uint64_t *max_ns) {
    if (run == NULL || !run->prepared || role >= run->nroles || op >= SK_OP_COUNT) return 0;
    const sk_role_t *r = &run->roles[role];
    sk_hist_t merged;
    memset(&merged, 0, sizeof merged);
    for (uint32_t j = 0; j < r->cfg.threads; j++) sk_hist_merge(&merged, &r->threads[j].hist[op]);
    if (buckets) memcpy(buckets, merged.buckets, sizeof merged.buckets);
    if (max_ns) *max_ns = merged.max_ns;
    return merged.count;
}

void sk_run_totals(const sk_run_t *run, sk_run_totals_t *out) {
    if (out == NULL) return;
    memset(out, 0, sizeof *out);
    if (run == NULL) return;
    sk_run_t *m = (sk_run_t *)run; /* atomics are read, never written */
    if (run->prepared) {
        for (uint32_t i = 0; i < run->nroles; i++) {
            const sk_role_t *r = &run->roles[i];
            for (uint32_t j = 0; j < r->cfg.threads; j++) {
                const sk_thread_t *t = &r->threads[j];
                out->blocks_allocated += t->allocs;
                out->blocks_freed += t->frees;
                out->bytes_allocated += t->bytes_allocated;
                out->bytes_freed += t->bytes_freed;
                out->unreclaimed_byte_ns += t->unrec_byte_ns;
                out->unreclaimed_block_ns += t->unrec_block_ns;
            }
        }
    }
    out->blocks_freed += run->reaped_blocks;
    out->bytes_freed += run->reaped_bytes;
    out->unreclaimed_byte_ns += run->reap_byte_ns;
    out->unreclaimed_block_ns += run->reap_block_ns;
    out->blocks_reaped = run->reaped_blocks;
    out->bytes_reaped = run->reaped_bytes;
    out->reap_canary_failures = run->reap_canary;
    out->reap_double_handoffs = run->reap_double;
    out->unreclaimed_blocks = atomic_load(&m->unreclaimed_blocks);
    out->unreclaimed_bytes = atomic_load(&m->unreclaimed_bytes);
    out->unreclaimed_peak_blocks = atomic_load(&m->peak_blocks);
    out->unreclaimed_peak_bytes = atomic_load(&m->peak_bytes);
    out->epoch = atomic_load(&m->epoch);
    out->max_threads_inside = atomic_load(&m->max_inside);
    uint64_t end = atomic_load(&m->t_last_end);
    out->elapsed_ns = end > run->t0 && run->t0 != 0 ? end - run->t0 : 0;
    for (uint32_t i = 0; run->prepared && i < run->nroles; i++)
        for (uint32_t j = 0; j < run->roles[i].cfg.threads; j++)
            out->serials_used += run->roles[i].threads[j].tracked;
}

void sk_run_destroy(sk_run_t *run) {
    if (run == NULL) return;
    sk_run_drain(run);
    if (run->prepared) {
        sk_wl_fini(run);
        for (uint32_t i = 0; i < run->nroles; i++) {
            sk_role_t *r = &run->roles[i];
            for (uint32_t j = 0; j < r->cfg.threads; j++) {
                free(r->threads[j].hist);
                free(r->threads[j].buf);
                free(r->threads[j].limbo);
                free(r->threads[j].oom_blocks);
            }
            sk_aligned_free(r->threads);
        }
    } else {
        /* prepare may have failed half way: free what it allocated */
        for (uint32_t i = 0; i < run->nroles; i++) {
            sk_role_t *r = &run->roles[i];
            if (r->threads == NULL) continue;
            for (uint32_t j = 0; j < r->cfg.threads; j++) {
                free(r->threads[j].hist);
                free(r->threads[j].buf);
                free(r->threads[j].limbo);
            }
            sk_aligned_free(r->threads);
        }
    }
    for (uint32_t q = 0; q < run->nqueues; q++) sk_queue_fini(&run->queues[q]);
    sk_own_fini(run);
    sk_diag_fini(run);
    free(run->series);
    sk_aligned_free(run->roles);
    sk_aligned_free(run->queues);
    sk_aligned_free(run);
}

void sk_engine_testing_corrupt_next(sk_run_t *run, uint64_t count) {
    if (run != NULL) atomic_fetch_add(&run->corrupt_pending, count);
}

void sk_engine_testing_double_handoff_next(sk_run_t *run, uint64_t count) {
    if (run != NULL) atomic_fetch_add(&run->dup_pending, count);
}

void sk_engine_testing_leak_next(sk_run_t *run, uint64_t count) {
    if (run != NULL) atomic_fetch_add(&run->leak_pending, count);
}

void sk_engine_testing_hook_role(sk_run_t *run, int32_t hook, int32_t role) {
    if (run != NULL && hook >= 0 && hook < 3) run->hook_role[hook] = role < 0 ? 0 : role + 1;
}

size_t sk_engine_abi_sizeof(int32_t which) {
    switch (which) {
        case 0: return sizeof(sk_role_config_t);
        case 1: return sizeof(sk_role_stats_t);
        case 2: return sizeof(sk_run_totals_t);
        case 3: return sizeof(sk_checks_t);
        case 4: return sizeof(sk_leak_record_t);
        case 5: return sizeof(sk_leak_group_t);
        case 6: return sizeof(sk_damage_t);
        case 7: return sizeof(sk_double_t);
        default: return 0;
    }
}
