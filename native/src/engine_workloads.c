/* Canonical allocator workloads (mimalloc-bench's shapes) on top of the engine's roles:
 *   writes          a freeing thread rewrites each block before its free (cache-thrash on its own
 *                   blocks, cache-scratch on blocks another thread allocated);
 *   live_set        an alloc_free thread keeps a set of live blocks and replaces a random one per
 *                   op (larson, mstress);
 *   handover_every  ... and every N ops hands its whole set to the role's next thread, taking the
 *                   set its previous thread handed over: blocks outlive their allocator's round.
 * Kept apart from engine_roles.c so the roles' hot loops stay as they are. */
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

enum { SK_WL_CLOCK_EVERY = 32 }; /* ops between budget checks, as the other roles */

static inline bool wl_aborted(const sk_run_t *run) {
    return atomic_load_explicit(&((sk_run_t *)run)->abort_now, memory_order_relaxed);
}

static inline bool wl_stopping(const sk_run_t *run) {
    return atomic_load_explicit(&((sk_run_t *)run)->stop, memory_order_relaxed);
}

bool sk_wl_config_ok(const sk_role_config_t *c) {
    if (c->writes > SK_MAX_WRITES || c->live_set > SK_MAX_LIVE_SET) return false;
    if (c->writes != 0 && c->action != SK_ACT_ALLOC_FREE && c->action != SK_ACT_CONSUME) return false;
    if (c->live_set != 0 && c->action != SK_ACT_ALLOC_FREE) return false;
    if (c->handover_every != 0 && c->live_set == 0) return false;
    return true;
}

void sk_wl_touch(sk_run_t *run, const sk_role_t *r, sk_thread_t *t, const sk_entry_t *e) {
    for (uint64_t i = 0; i < r->cfg.writes; i++) {
        sk_block_rewrite(run, e);
        /* the passes write the same bytes: without a barrier the compiler may keep only one */
        atomic_signal_fence(memory_order_seq_cst);
    }
    t->wl.writes += r->cfg.writes;
    if (sk_diag_allocator(run, e->serial) != sk_who_thread(t)) t->wl.foreign_writes += r->cfg.writes;
}

static inline void wl_begin_measure(sk_thread_t *t) {
    if (!t->measuring) {
        t->measuring = true;
        t->t_start = sk_now_ns();
    }
}

/* Free the block in one slot (thread t owns the slot): take its ownership first when it is tracked
 * (a set handed over twice would lose here and touch nothing), rewrite it if asked, verify, free. */
static void free_slot(sk_run_t *run, sk_role_t *r, sk_thread_t *t, sk_entry_t *e) {
    if (!(e->serial & SK_SERIAL_UNTRACKED)) {
        if (!sk_own_transition(run, e->serial, 1u << SK_OWN_LIVE, SK_OWN_FREE)) {
            t->double_handoffs++;
            sk_diag_double(run, e, sk_who_thread(t), -1);
            e->ptr = NULL;
            return;
        }
        sk_diag_taken(t, e->serial);
    }
    if (sk_diag_allocator(run, e->serial) != sk_who_thread(t)) t->wl.foreign_frees++;
    if (r->cfg.writes != 0) sk_wl_touch(run, r, t, e);
    sk_block_free(run, r, t, e, sk_should_time(run, t));
    e->ptr = NULL;
}

static void free_set(sk_run_t *run, sk_role_t *r, sk_thread_t *t, sk_entry_t *set) {
    for (uint64_t i = 0; i < r->cfg.live_set; i++)
        if (set[i].ptr != NULL) free_slot(run, r, t, &set[i]);
}

static uint64_t filled(const sk_role_t *r, const sk_entry_t *set) {
    uint64_t n = 0;
    for (uint64_t i = 0; i < r->cfg.live_set; i++) n += set[i].ptr != NULL;
    return n;
}

static inline sk_thread_t *neighbour(sk_role_t *r, const sk_thread_t *t, uint32_t step) {
    return &r->threads[(t->index + step) % r->cfg.threads];
}

/* Phase 1: hand t's set to the next thread (its mailbox must be empty: the next thread took the
 * previous one). Phase 2: take the set the previous thread handed over. A neighbour that has
 * finished neither takes nor gives sets any more: t then frees its own set itself (phase 1) or
 * starts an empty one (phase 2). Returns 1 when the hand-over is complete, 0 when the chunk's
 * budget ran out while waiting, -1 when the run stops (the set, if any, stays with t). */
static int handover(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline) {
    uint32_t attempt = 0;
    while (t->wl.phase == 1) {
        if (t->wl.dup == NULL && SK_UNLIKELY(sk_hook_fires(run, 1, (int32_t)t->role))) {
            /* the double hand-off hook: keep a copy of the set about to be handed over, so both
             * threads free its blocks; the ownership CAS must let only one of them touch each */
            t->wl.dup = malloc(r->cfg.live_set * sizeof(sk_entry_t));
            if (t->wl.dup != NULL) memcpy(t->wl.dup, t->wl.live, r->cfg.live_set * sizeof(sk_entry_t));
        }
        sk_thread_t *next = neighbour(r, t, 1);
        sk_entry_t *expected = NULL;
        uint64_t n = filled(r, t->wl.live);
        if (next != t && atomic_load_explicit(&next->wl.done, memory_order_acquire)) {
            free_set(run, r, t, t->wl.live); /* nobody left to take it */
            free(t->wl.dup);              /* a copy of what was just freed: nothing to free twice */
            t->wl.dup = NULL;
            t->wl.phase = 2;
        } else if (atomic_compare_exchange_strong(&next->wl.mailbox, &expected, t->wl.live)) {
            /* Dekker with the next thread's finish (done, then a last look at its mailbox), both
             * sequentially consistent: if it finished too early to see the set, this sees done
             * and takes the set back, so a completed run leaves no set to the drain */
            sk_entry_t *mine = t->wl.live;
            if (next != t && atomic_load(&next->wl.done) && atomic_compare_exchange_strong(&next->wl.mailbox, &mine, NULL)) {
                free_set(run, r, t, t->wl.live);
                free(t->wl.dup);
                t->wl.dup = NULL;
                t->wl.phase = 2;
                continue;
            }
            t->wl.handovers++;
            t->wl.handover_blocks += n;
            t->wl.live = NULL;
            t->wl.phase = 2;
            t->wl.live = t->wl.dup; /* NULL, unless the hook kept a copy */
            t->wl.dup = NULL;
        } else {
            if (wl_aborted(run) || wl_stopping(run)) return -1;
            sk_backoff(attempt++);
            if (sk_clock(t) >= deadline) return 0;
        }
    }
    attempt = 0;
    while (t->wl.phase == 2) {
        sk_thread_t *prev = neighbour(r, t, r->cfg.threads - 1);
        bool prev_done = atomic_load_explicit(&prev->wl.done, memory_order_acquire);
        sk_entry_t *got = atomic_exchange_explicit(&t->wl.mailbox, NULL, memory_order_acquire);
        if (got == NULL && (prev_done || wl_aborted(run) || wl_stopping(run))) {
            /* the previous thread will hand nothing more over (or the run ends): start afresh */
            if (t->wl.live == NULL) t->wl.live = calloc(r->cfg.live_set, sizeof(sk_entry_t));
            if (t->wl.live == NULL) return -1;
            if (!prev_done) return -1;
            got = t->wl.live;
        }
        if (got == NULL) {
            sk_backoff(attempt++);
            if (sk_clock(t) >= deadline) return 0;
            continue;
        }
        if (t->wl.live != NULL && t->wl.live != got) { /* a set started afresh, then one came */
            free_set(run, r, t, t->wl.live);
            free(t->wl.live);
        }
        t->wl.live = got;
        t->wl.phase = 0;
        t->wl.since_handover = 0;
    }
    return 1;
}

/* One op: free a random slot's block (if any) and allocate its replacement. False when serials ran
 * out (the run's tracking capacity is spent). */
static bool replace_one(sk_run_t *run, sk_role_t *r, sk_thread_t *t) {
    sk_entry_t *slot = &t->wl.live[sk_rand(&t->rng) % r->cfg.live_set];
    if (slot->ptr != NULL) free_slot(run, r, t, slot);
    sk_maybe_probe(run, r, t);
    bool exhausted;
    uint64_t size = sk_draw_size(r, &t->rng);
    t->ops++;
    t->wl.since_handover++;
    if (!sk_block_new(run, r, t, r->cfg.handover_every != 0, sk_should_time(run, t), size, slot, &exhausted)) {
        slot->ptr = NULL;
        return !exhausted;
    }
    return true;
}

SK_STEP_HOT int32_t sk_step_live_set(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline) {
    if (SK_UNLIKELY(sk_watch_hooks(run, t, deadline))) return 0;
    if (t->wl.live == NULL && t->wl.phase == 0 && !t->wl.done) {
        t->wl.live = calloc(r->cfg.live_set, sizeof(sk_entry_t));
        if (t->wl.live == NULL) {
            sk_run_abort(run); /* no room for the engine's own books: nothing can be trusted */
            goto finish;
        }
    }
    for (uint64_t iter = 1;; iter++) {
        if (wl_aborted(run)) break;
        if (t->wl.phase != 0) {
            int rc = handover(run, r, t, deadline);
            if (rc < 0) break;
            if (rc == 0) return 0;
        }
        if ((iter % SK_WL_CLOCK_EVERY) == 0 && sk_clock(t) >= deadline) return 0;
        if (t->warmup_left > 0) { /* local pairs, as every allocating role warms up */
            sk_warmup_one(run, r, t);
            continue;
        }
        if (wl_stopping(run) || t->ops >= t->quota) break;
        wl_begin_measure(t);
        if (!replace_one(run, r, t)) break;
        /* no hand-over at the very end: the set is freed by the thread that holds it then */
        if (r->cfg.handover_every != 0 && t->wl.since_handover >= r->cfg.handover_every && t->ops < t->quota)
            t->wl.phase = 1;
    }
finish:
    atomic_store(&t->wl.done, true);
    /* an abort leaves the sets to the drain, as queued blocks are; a finished thread frees its own
     * and one handed to it since its last take (see the Dekker pairing in handover) */
    if (!wl_aborted(run)) {
        if (t->wl.live != NULL) free_set(run, r, t, t->wl.live);
        sk_entry_t *late = atomic_exchange(&t->wl.mailbox, NULL);
        if (late != NULL) {
            free_set(run, r, t, late);
            free(late);
        }
    }
    sk_thread_finish(run, r, t);
    return 1;
}

static void reap_set(sk_run_t *run, const sk_role_t *r, sk_entry_t *set, uint32_t loc) {
    for (uint64_t i = 0; i < r->cfg.live_set; i++) {
        if (set[i].ptr == NULL) continue;
        sk_run_reap(run, &set[i], loc);
        set[i].ptr = NULL;
    }
}

void sk_wl_drain(sk_run_t *run) {
    for (uint32_t i = 0; i < run->nroles; i++) {
        sk_role_t *r = &run->roles[i];
        if (r->cfg.live_set == 0) continue;
        for (uint32_t j = 0; j < r->cfg.threads; j++) {
            sk_thread_t *t = &r->threads[j];
            if (t->wl.live != NULL) reap_set(run, r, t->wl.live, 192 + i);
            sk_entry_t *mail = atomic_exchange(&t->wl.mailbox, NULL);
            if (mail != NULL) {
                reap_set(run, r, mail, 192 + i);
                free(mail);
            }
        }
    }
}

void sk_wl_fini(sk_run_t *run) {
    for (uint32_t i = 0; i < run->nroles; i++) {
        sk_role_t *r = &run->roles[i];
        if (r->threads == NULL) continue;
        for (uint32_t j = 0; j < r->cfg.threads; j++) {
            free(r->threads[j].wl.live);
            r->threads[j].wl.live = NULL;
            free(r->threads[j].wl.dup);
            r->threads[j].wl.dup = NULL;
            free(atomic_exchange(&r->threads[j].wl.mailbox, NULL));
        }
    }
}

int32_t sk_wl_break_in_flight(sk_run_t *run) {
    for (uint32_t i = 0; i < run->nroles; i++) {
        sk_role_t *r = &run->roles[i];
        sk_thread_t *t = &r->threads[0];
        if (r->cfg.handover_every == 0 || t->wl.live == NULL || t->wl.live[0].ptr != NULL) continue;
        bool exhausted;
        if (!sk_block_new(run, r, t, true, false, 64, &t->wl.live[0], &exhausted)) return -1;
        /* held in a set, yet retired in the table: the drain still frees it (live or retired) */
        sk_own_transition(run, t->wl.live[0].serial, 1u << SK_OWN_LIVE, SK_OWN_RETIRED);
        return 0;
    }
    return -1;
}

void sk_wl_stats(const sk_thread_t *t, sk_role_stats_t *out) {
    out->writes += t->wl.writes;
    out->foreign_writes += t->wl.foreign_writes;
    out->handovers += t->wl.handovers;
    out->handover_blocks += t->wl.handover_blocks;
    out->foreign_frees += t->wl.foreign_frees;
}

/* A held or handed-over set's tracked blocks are live in the ownership table; untracked ones
 * (no hand-over) are owned by construction. */
static void check_set(const sk_run_t *run, const sk_role_t *r, const sk_entry_t *set, uint64_t *counts) {
    for (uint64_t i = 0; i < r->cfg.live_set; i++) {
        const sk_entry_t *e = &set[i];
        if (e->ptr == NULL || (e->serial & SK_SERIAL_UNTRACKED)) continue;
        if (sk_own_state((sk_run_t *)run, e->serial) != SK_OWN_LIVE || e->t_ns != 0)
            counts[SK_INV_IN_FLIGHT_NOT_OWNED]++;
    }
}

void sk_wl_invariants(const sk_run_t *run, uint64_t *counts) {
    for (uint32_t i = 0; i < run->nroles; i++) {
        const sk_role_t *r = &run->roles[i];
        if (r->cfg.live_set == 0) continue;
        for (uint32_t j = 0; j < r->cfg.threads; j++) {
            sk_thread_t *t = &r->threads[j];
            if (t->wl.live != NULL) check_set(run, r, t->wl.live, counts);
            sk_entry_t *mail = atomic_load_explicit(&t->wl.mailbox, memory_order_acquire);
            if (mail != NULL) check_set(run, r, mail, counts);
        }
    }
}
