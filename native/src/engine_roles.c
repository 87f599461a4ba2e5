/* Role chunks: what one call of sk_role_step does for each action. Each chunk runs until its
 * budget is spent (the clock is read every few operations) or the thread has finished. The
 * per-action functions are kept out of line so profilers show which role the time went to. */
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

/* Operations between budget checks (a clock read: 40-70 ns on this VM, so at 32 it cost ~5 % of a
 * block with the default checks). At 128 a block stamp is at most a few microseconds stale. */
enum { SK_CLOCK_EVERY = 128 };

static inline bool aborted(const sk_run_t *run) {
    return atomic_load_explicit(&run->abort_now, memory_order_relaxed);
}

static inline bool stopping(const sk_run_t *run) {
    return atomic_load_explicit(&run->stop, memory_order_relaxed);
}

void sk_unreclaimed_add(sk_run_t *run, uint64_t bytes) {
    uint64_t b = atomic_fetch_add_explicit(&run->unreclaimed_blocks, 1, memory_order_relaxed) + 1;
    uint64_t y = atomic_fetch_add_explicit(&run->unreclaimed_bytes, bytes, memory_order_relaxed) + bytes;
    sk_atomic_max_u64(&run->peak_blocks, b);
    sk_atomic_max_u64(&run->peak_bytes, y);
}

void sk_unreclaimed_sub(sk_run_t *run, uint64_t bytes) {
    atomic_fetch_sub_explicit(&run->unreclaimed_blocks, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&run->unreclaimed_bytes, bytes, memory_order_relaxed);
}

void sk_unreclaimed_release(sk_run_t *run, sk_thread_t *t, const sk_entry_t *e, uint64_t now) {
    if (e->t_ns == 0) return; /* never retired: never counted */
    sk_unreclaimed_sub(run, e->size);
    double age = now > e->t_ns ? (double)(now - e->t_ns) : 0.0;
    t->unrec_byte_ns += (double)e->size * age;
    t->unrec_block_ns += age;
}

void sk_thread_finish(sk_run_t *run, sk_role_t *r, sk_thread_t *t) {
    if (t->finished) return;
    t->finished = true;
    sk_watch_set(t, SK_TS_FINISHED, 0);
    t->t_end = sk_now_ns();
    if (r->cfg.outbox >= 0)
        atomic_fetch_add_explicit(&run->queues[r->cfg.outbox].upstream_done, 1, memory_order_release);
    if (r->cfg.inbox >= 0)
        atomic_fetch_add_explicit(&run->queues[r->cfg.inbox].downstream_done, 1, memory_order_release);
    sk_atomic_max_u64(&run->t_last_end, t->t_end);
}

static inline void begin_measure(sk_thread_t *t) {
    if (!t->measuring) {
        t->measuring = true;
        t->t_start = sk_now_ns();
    }
}

/* Whether every upstream thread of queue q has finished. Read before a pop: if true, every push
 * happened before, so a pop that then finds the queue empty means it is drained for good. */
static inline bool upstream_done(const sk_queue_t *q) {
    return atomic_load_explicit(&((sk_queue_t *)q)->upstream_done, memory_order_acquire) >= q->upstream_total;
}

/* Whether every thread that pops q has finished: a full q then stays full for good. */
static inline bool downstream_gone(const sk_queue_t *q) {
    return atomic_load_explicit(&((sk_queue_t *)q)->downstream_done, memory_order_acquire) >= q->downstream_total;
}

typedef enum { SK_POP_GOT, SK_POP_RETRY, SK_POP_DRAINED, SK_POP_YIELD } sk_pop_t;

/* One attempt of a consuming role (consume, retire) to take a block from q. GOT fills *e and
 * starts the measured part; RETRY: empty for now (backed off, call again after checking for an
 * abort); DRAINED: every upstream thread finished and q is empty for good; YIELD: the chunk's
 * deadline passed (checked every SK_CLOCK_EVERY iterations and on every empty pop). */
static inline sk_pop_t pop_or_wait(const sk_run_t *run, sk_queue_t *q, sk_thread_t *t, uint64_t deadline,
                                   uint64_t iter, uint32_t *attempt, sk_entry_t *e) {
    if ((iter % SK_CLOCK_EVERY) == 0 && sk_clock(t) >= deadline) return SK_POP_YIELD;
    bool done = upstream_done(q);
    if (!sk_queue_try_pop(q, e)) {
        if (done) return SK_POP_DRAINED;
        t->empty_retries++;
        sk_watch_wait(t, SK_TS_WAIT_EMPTY, (uint32_t)(q - run->queues));
        sk_backoff((*attempt)++);
        /* after the back-off, which may have yielded the core for a long time: the next block's
         * free stamp then carries a fresh time, not the one from before the wait */
        if (sk_clock(t) >= deadline) return SK_POP_YIELD;
        return SK_POP_RETRY;
    }
    *attempt = 0;
    sk_watch_progress(t);
    begin_measure(t);
    return SK_POP_GOT;
}

/* The double hand-off hook: push the same entry again (its second copy must be caught). */
static void maybe_duplicate(sk_run_t *run, const sk_thread_t *t, sk_queue_t *q, const sk_entry_t *e) {
    if (SK_LIKELY(!sk_hook_fires(run, 1, (int32_t)t->role))) return;
    uint32_t attempt = 0;
    while (!sk_queue_try_push(q, e) && !aborted(run) && !downstream_gone(q)) sk_backoff(attempt++);
}

/* Entry e is in q: the hand-off's latency, progress, and the double hand-off hook. */
static inline int pushed(sk_run_t *run, sk_thread_t *t, sk_queue_t *q, const sk_entry_t *e, uint64_t timed_since) {
    if (timed_since != 0) sk_hist_record(&t->hist[SK_OP_HANDOFF], sk_now_ns() - timed_since);
    t->has_pending = false;
    sk_watch_progress(t);
    maybe_duplicate(run, t, q, e);
    return 1;
}

/* A push found q full: wait for room. Its own frame (never inlined into a step), so that a stall's
 * stacks and a profile's idle samples name the wait (docs/diagnostics.md, profile_classes.py).
 * Returns as hand_off does. */
static SK_NOINLINE int push_pending(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline,
                                    uint64_t timed_since) {
    sk_queue_t *q = &run->queues[r->cfg.outbox];
    uint32_t attempt = 0;
    do {
        t->full_retries++;
        sk_watch_wait(t, SK_TS_WAIT_FULL, (uint32_t)r->cfg.outbox);
        if (aborted(run) || downstream_gone(q)) return -1;
        sk_backoff(attempt++);
        if (sk_clock(t) >= deadline) return 0; /* fresh after the wait: the next blocks' birth stamps */
    } while (!sk_queue_try_push(q, &t->pending));
    return pushed(run, t, q, &t->pending, timed_since);
}

/* Push t's pending entry to the role's outbox. Returns 1 when pushed, 0 when the budget ran out
 * first and -1 on abort or when nobody will pop the queue again (a reclaimer that left its limbo
 * to the drain after a stop); the entry stays pending then, and sk_run_drain frees it.
 * `timed_since` (0 = untimed) is when the hand-off started. */
static inline int hand_off(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline, uint64_t timed_since) {
    sk_queue_t *q = &run->queues[r->cfg.outbox];
    if (SK_LIKELY(sk_queue_try_push(q, &t->pending))) return pushed(run, t, q, &t->pending, timed_since);
    return push_pending(run, r, t, deadline, timed_since);
}

/* One warm-up allocation and free, local and untimed: warms the thread's heap, not measured. */
void sk_warmup_one(sk_run_t *run, sk_role_t *r, sk_thread_t *t) {
    sk_entry_t e;
    bool exhausted;
    if (sk_block_new(run, r, t, false, false, sk_draw_size(r, &t->rng), &e, &exhausted))
        sk_block_free(run, r, t, &e, false);
    t->warmup_left--;
    t->warmup_ops++;
}

static SK_STEP_HOT int32_t step_alloc_free(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline) {
    if (SK_UNLIKELY(sk_watch_hooks(run, t, deadline))) return 0;
    for (;;) {
        if (aborted(run)) break;
        bool warm = t->warmup_left > 0;
        uint64_t n = r->cfg.batch;
        if (warm) {
            if (n > t->warmup_left) n = t->warmup_left;
        } else {
            if (stopping(run) || t->ops >= t->quota) break;
            if (n > t->quota - t->ops) n = t->quota - t->ops;
            begin_measure(t);
        }
        uint64_t got = 0;
        bool exhausted;
        for (uint64_t i = 0; i < n; i++) {
            if (!warm) sk_maybe_probe(run, r, t);
            uint64_t size = sk_draw_size(r, &t->rng);
            if (sk_block_new(run, r, t, false, !warm && sk_should_time(run, t), size, &t->buf[got], &exhausted))
                got++;
        }
        for (uint64_t i = 0; i < got; i++) {
            if (r->cfg.writes != 0 && !warm) sk_wl_touch(run, r, t, &t->buf[i]);
            sk_block_free(run, r, t, &t->buf[i], !warm && sk_should_time(run, t));
        }
        if (warm) {
            t->warmup_left -= n;
            t->warmup_ops += n;
        } else {
            t->ops += n;
        }
        if (sk_clock(t) >= deadline) return 0;
    }
    sk_thread_finish(run, r, t);
    return 1;
}

static SK_STEP_HOT int32_t step_produce(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline) {
    if (SK_UNLIKELY(sk_watch_hooks(run, t, deadline))) return 0;
    for (uint64_t iter = 1;; iter++) {
        if (aborted(run)) break;
        if (t->has_pending) {
            int rc = hand_off(run, r, t, deadline, 0);
            if (rc < 0) break;
            if (rc == 0) return 0;
        }
        if ((iter % SK_CLOCK_EVERY) == 0 && sk_clock(t) >= deadline) return 0;
        if (t->warmup_left > 0) {
            sk_warmup_one(run, r, t);
            continue;
        }
        if (stopping(run) || t->ops >= t->quota) break;
        begin_measure(t);
        sk_maybe_probe(run, r, t);
        bool timed = sk_should_time(run, t), exhausted;
        uint64_t size = sk_draw_size(r, &t->rng);
        t->ops++;
        /* the new entry goes straight into the outbox's next slot when there is one to reserve */
        sk_queue_t *out = &run->queues[r->cfg.outbox];
        sk_entry_t *slot = sk_queue_reserve(out);
        if (!sk_block_new(run, r, t, true, timed, size, slot != NULL ? slot : &t->pending, &exhausted)) {
            if (exhausted) break; /* no serials left: the run's tracking capacity is spent */
            continue;
        }
        if (slot != NULL) {
            uint64_t since = timed ? sk_now_ns() : 0;
            sk_queue_commit(out);
            pushed(run, t, out, slot, since); /* the slot stays as written until this thread's next lap */
            continue;
        }
        t->has_pending = true;
        int rc = hand_off(run, r, t, deadline, timed ? sk_now_ns() : 0);
        if (rc < 0) break;
        if (rc == 0) return 0;
    }
    sk_thread_finish(run, r, t);
    return 1;
}

/* Take ownership of a popped entry for freeing: the CAS that makes duplicates harmless. */
static bool take_for_free(sk_run_t *run, sk_thread_t *t, const sk_entry_t *e, int32_t queue) {
    if (!sk_own_transition(run, e->serial, (1u << SK_OWN_LIVE) | (1u << SK_OWN_RETIRED), SK_OWN_FREE)) {
        t->double_handoffs++;
        sk_diag_double(run, e, sk_who_thread(t), queue);
        return false;
    }
    sk_diag_taken(t, e->serial);
    return true;
}

static SK_STEP_HOT int32_t step_consume(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline) {
    if (SK_UNLIKELY(sk_watch_hooks(run, t, deadline))) return 0;
    sk_queue_t *q = &run->queues[r->cfg.inbox];
    uint32_t attempt = 0;
    for (uint64_t iter = 1;; iter++) {
        if (aborted(run)) break;
        sk_entry_t e;
        sk_pop_t got = pop_or_wait(run, q, t, deadline, iter, &attempt, &e);
        if (got == SK_POP_RETRY) continue;
        if (got == SK_POP_YIELD) return 0;
        if (got == SK_POP_DRAINED) break;
        if (!take_for_free(run, t, &e, r->cfg.inbox)) continue;
        if (e.t_ns != 0) sk_unreclaimed_release(run, t, &e, sk_now_ns());
        if (r->cfg.writes != 0) sk_wl_touch(run, r, t, &e);
        sk_block_free(run, r, t, &e, sk_should_time(run, t));
        t->ops++;
    }
    sk_thread_finish(run, r, t);
    return 1;
}

static SK_STEP_HOT int32_t step_retire(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline) {
    if (SK_UNLIKELY(sk_watch_hooks(run, t, deadline))) return 0;
    sk_queue_t *in = &run->queues[r->cfg.inbox];
    uint32_t attempt = 0;
    for (uint64_t iter = 1;; iter++) {
        if (aborted(run)) break;
        if (t->has_pending) {
            int rc = hand_off(run, r, t, deadline, 0);
            if (rc < 0) break;
            if (rc == 0) return 0;
        }
        sk_entry_t e;
        sk_pop_t got = pop_or_wait(run, in, t, deadline, iter, &attempt, &e);
        if (got == SK_POP_RETRY) continue;
        if (got == SK_POP_YIELD) return 0;
        if (got == SK_POP_DRAINED) break;
        bool again = false; /* a recirculated block (test hook): already retired and counted */
        if (!sk_own_transition(run, e.serial, 1u << SK_OWN_LIVE, SK_OWN_RETIRED)) {
            again = atomic_load_explicit(&run->test_recirculate, memory_order_relaxed) && e.t_ns != 0;
            if (!again) {
                t->double_handoffs++;
                sk_diag_double(run, &e, sk_who_thread(t), r->cfg.inbox);
                continue;
            }
        }
        sk_diag_taken(t, e.serial);
        if (!again) {
            e.usable |= (uint64_t)sk_who_thread(t) << SK_USABLE_BITS;
            e.epoch = atomic_load_explicit(&run->epoch, memory_order_acquire);
            e.t_ns = sk_now_ns();
            sk_block_stamp_retired(&e);
            sk_unreclaimed_add(run, e.size);
        }
        t->retired++;
        t->ops++;
        if (r->cfg.epoch_every != 0 && ++t->retire_count % r->cfg.epoch_every == 0)
            atomic_fetch_add_explicit(&run->epoch, 1, memory_order_acq_rel);
        sk_entry_copy(&t->pending, &e); /* e's fields were just stored one by one */
        t->has_pending = true;
        int rc = hand_off(run, r, t, deadline, sk_should_time(run, t) ? sk_now_ns() : 0);
        if (rc < 0) break;
        if (rc == 0) return 0;
    }
    sk_thread_finish(run, r, t);
    return 1;
}

/* Room for one more block in t's limbo: grow the ring (doubling) up to the role's limbo_max.
 * False when it is full at its cap, or could not grow: the caller then leaves the block in the
 * queue. Freeing a block before its grace to make room would be the very bug an SMR test looks
 * for, so a full limbo back-pressures instead: the inbox fills, retirers and producers wait. */
static bool limbo_room(const sk_role_t *r, sk_thread_t *t) {
    if (t->limbo_len < t->limbo_cap) return true;
    if (t->limbo_cap >= r->cfg.limbo_max) return false;
    uint64_t cap = t->limbo_cap * 2;
    if (cap > r->cfg.limbo_max) cap = r->cfg.limbo_max;
    /* the ring indexes with a mask: keep a power of two (limbo_max need not be one) */
    while (cap & (cap - 1)) cap &= cap - 1;
    if (cap <= t->limbo_cap) return false;
    sk_entry_t *grown = malloc(cap * sizeof *grown);
    if (grown == NULL) return false;
    for (uint64_t i = 0; i < t->limbo_len; i++) grown[i] = t->limbo[(t->limbo_head + i) & (t->limbo_cap - 1)];
    free(t->limbo);
    t->limbo = grown;
    t->limbo_cap = cap;
    t->limbo_head = 0;
    return true;
}

/* The SMR poll: retired blocks wait in this thread's FIFO limbo list until they are both
 * grace_epochs epochs and grace_ns nanoseconds old. The list is in arrival order, which is
 * nearly retire order; the poll stops at the first block not old enough, so a block is never
 * freed early (it may wait a little longer than needed behind a younger one, as in real SMR).
 * Once the run is told to stop, blocks still waiting are left to sk_run_drain (counted as
 * reaped, never as freed early) as soon as the inbox is drained for good or the limbo is full:
 * with a long grace, waiting it out would hold the end of the run for up to the grace. */
static SK_STEP_HOT int32_t step_reclaim(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline) {
    if (SK_UNLIKELY(sk_watch_hooks(run, t, deadline))) return 0;
    sk_queue_t *in = &run->queues[r->cfg.inbox];
    uint32_t attempt = 0;
    for (;;) {
        if (aborted(run)) break;
        bool done = upstream_done(in);
        uint64_t got = 0;
        sk_entry_t e;
        while (got < r->cfg.batch && limbo_room(r, t)) {
            if (!sk_queue_try_pop(in, &e)) break;
            t->limbo[(t->limbo_head + t->limbo_len) & (t->limbo_cap - 1)] = e;
            t->limbo_len++;
            got++;
        }
        if (got > 0) {
            begin_measure(t);
            sk_watch_progress(t);
        }
        uint64_t now = sk_clock(t);
        uint64_t epoch = atomic_load_explicit(&run->epoch, memory_order_acquire);
        uint64_t freed = 0;
        bool blocked_by_epoch = false;
        while (t->limbo_len > 0) {
            sk_entry_t *h = &t->limbo[t->limbo_head];
            uint64_t age = now > h->t_ns ? now - h->t_ns : 0;
            uint64_t epochs = epoch - h->epoch;
            if (epochs < r->cfg.grace_epochs) {
                blocked_by_epoch = true;
                break;
            }
            if (age < r->cfg.grace_ns) break;
            sk_entry_t x = *h;
            t->limbo_head = (t->limbo_head + 1) & (t->limbo_cap - 1);
            t->limbo_len--;
            freed++;
            if (!take_for_free(run, t, &x, r->cfg.inbox)) continue;
            if (age < t->min_age_ns) t->min_age_ns = age;
            if (epochs < t->min_epochs) t->min_epochs = epochs;
            sk_unreclaimed_release(run, t, &x, now);
            sk_block_free(run, r, t, &x, sk_should_time(run, t));
            t->retired++;
            t->ops++;
        }
        if (got == 0 && freed == 0) {
            /* After a stop, a full limbo may wait out a long grace with its retirers blocked
             * behind it: leave what waits to the drain rather than hold the run's end. */
            if (stopping(run) ? done || !limbo_room(r, t) : done && t->limbo_len == 0) break;
            if (blocked_by_epoch && got == 0) {
                /* Idle and waiting on the epoch: advance it so nothing starves once the retirers
                 * are quiet (the CAS keeps several idle reclaimers from racing it ahead). */
                uint64_t expected = epoch;
                atomic_compare_exchange_strong_explicit(&run->epoch, &expected, epoch + 1,
                                                        memory_order_acq_rel, memory_order_relaxed);
            }
            if (t->limbo_len == 0) {
                t->empty_retries++;
                sk_watch_wait(t, SK_TS_WAIT_EMPTY, (uint32_t)r->cfg.inbox);
            } else {
                sk_watch_wait(t, SK_TS_GRACE, 0);
            }
            if (now >= deadline) return 0;
            sk_backoff(attempt++);
            continue;
        }
        attempt = 0;
        sk_watch_progress(t);
        if (sk_now_ns() >= deadline) return 0;
    }
    sk_thread_finish(run, r, t);
    return 1;
}

static void enter(sk_run_t *run, sk_role_t *r) {
    int64_t n = atomic_fetch_add_explicit(&r->inside, 1, memory_order_relaxed) + 1;
    sk_atomic_max_i64(&r->max_inside, n);
    n = atomic_fetch_add_explicit(&run->inside, 1, memory_order_relaxed) + 1;
    sk_atomic_max_i64(&run->max_inside, n);
}

static void leave(sk_run_t *run, sk_role_t *r) {
    atomic_fetch_sub_explicit(&r->inside, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&run->inside, 1, memory_order_relaxed);
}

/* Every thread's first step waits here until all the run's threads have arrived (or 2 s pass,
 * or the run is aborted): the start is simultaneous in native code, not merely released into the
 * interpreter's lock queue, and all threads are provably inside native code at once. */
static void start_line(sk_run_t *run, sk_thread_t *t) {
    sk_watch_set(t, SK_TS_START_LINE, 0);
    uint64_t now = sk_now_ns();
    if (atomic_fetch_add_explicit(&run->arrived, 1, memory_order_acq_rel) + 1 == run->total_threads)
        atomic_store_explicit(&run->t_line, now, memory_order_relaxed);
    uint64_t give_up = now + UINT64_C(2000000000);
    uint32_t attempt = 0;
    while (atomic_load_explicit(&run->arrived, memory_order_acquire) < run->total_threads &&
           !aborted(run) && sk_now_ns() < give_up)
        sk_backoff(attempt++);
    sk_watch_set(t, SK_TS_RUNNING, 0);
}

int32_t sk_role_step(sk_run_t *run, uint32_t role, uint32_t thread, uint64_t budget_ns) {
    if (run == NULL || !run->prepared || role >= run->nroles) return -1;
    sk_role_t *r = &run->roles[role];
    if (thread >= r->cfg.threads) return -1;
    sk_thread_t *t = &r->threads[thread];
    if (t->finished) return 1;
    enter(run, r);
    if (!t->started) {
        t->started = true;
        start_line(run, t);
    }
    t->diag_t0 = run->t0;
    uint64_t deadline = sk_clock(t) + budget_ns;
    int32_t rc;
    switch (r->cfg.action) {
        case SK_ACT_ALLOC_FREE:
            rc = r->cfg.live_set != 0 ? sk_step_live_set(run, r, t, deadline) : step_alloc_free(run, r, t, deadline);
            break;
        case SK_ACT_PRODUCE: rc = step_produce(run, r, t, deadline); break;
        case SK_ACT_CONSUME: rc = step_consume(run, r, t, deadline); break;
        case SK_ACT_RETIRE: rc = step_retire(run, r, t, deadline); break;
        case SK_ACT_RECLAIM: rc = step_reclaim(run, r, t, deadline); break;
        case SK_ACT_OOM: rc = sk_step_oom(run, r, t, deadline); break;
        default: rc = -1; break;
    }
    if (r->cfg.action == SK_ACT_ALLOC_FREE || r->cfg.action == SK_ACT_PRODUCE) {
        atomic_fetch_add_explicit(&run->progress, t->ops - t->reported, memory_order_relaxed);
        t->reported = t->ops;
    }
    sk_watch_beat(t);
    leave(run, r);
    return rc;
}
