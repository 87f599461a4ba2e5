/* The engine's invariants (tier 3): its own structures checked against what they must satisfy,
 * with every violation counted under a reason (sk_invariant_t), so a bug in the engine is never
 * mistaken for a bug in the glue it tests. Read-only, and only while no role thread is inside
 * sk_role_step: nothing here is on a hot path. */
#include "engine_internal.h"

#include <stdlib.h>

static const char *const NAMES[SK_INV_COUNT] = {
    [SK_INV_QUEUE_INDEX] = "queue_index",
    [SK_INV_QUEUE_CELL] = "queue_cell",
    [SK_INV_OWNERSHIP_STATE] = "ownership_state",
    [SK_INV_OWNED_AFTER_DRAIN] = "owned_after_drain",
    [SK_INV_IN_FLIGHT_NOT_OWNED] = "in_flight_not_owned",
    [SK_INV_LIMBO_BOUNDS] = "limbo_bounds",
    [SK_INV_FUTURE_EPOCH] = "future_epoch",
    [SK_INV_GRACE_CUT_SHORT] = "grace_cut_short",
    [SK_INV_BOOKS_UNBALANCED] = "books_unbalanced",
    [SK_INV_UNRECLAIMED_AFTER_DRAIN] = "unreclaimed_after_drain",
    [SK_INV_PEAK_BELOW_CURRENT] = "peak_below_current",
};

const char *sk_invariant_name(uint32_t reason) { return reason < SK_INV_COUNT ? NAMES[reason] : NULL; }

static unsigned own_state(const sk_run_t *run, uint64_t serial) {
    uint64_t chunk = serial >> SK_OWN_CHUNK_BITS;
    _Atomic uint64_t *words = atomic_load_explicit(&run->own_dir[chunk], memory_order_acquire);
    if (words == NULL) return SK_OWN_FREE;
    uint64_t idx = serial & ((UINT64_C(1) << SK_OWN_CHUNK_BITS) - 1);
    return sk_own_state_of((unsigned)(atomic_load_explicit(&words[idx >> 5], memory_order_relaxed) >> ((idx & 31) * 2)) & 3u);
}

/* An entry still held by the engine: its block must be owned (live, or retired once stamped) and
 * its retire stamp no later than the run's epoch and end. */
static void check_in_flight(const sk_run_t *run, const sk_entry_t *e, uint64_t *counts) {
    if (!(e->serial & SK_SERIAL_UNTRACKED)) {
        unsigned st = own_state(run, e->serial);
        if (st != (e->t_ns != 0 ? SK_OWN_RETIRED : SK_OWN_LIVE)) counts[SK_INV_IN_FLIGHT_NOT_OWNED]++;
    }
    sk_run_t *m = (sk_run_t *)run; /* atomics are read, never written */
    if (e->t_ns != 0 && e->epoch > atomic_load(&m->epoch)) counts[SK_INV_FUTURE_EPOCH]++;
}

/* Vyukov's protocol at rest: dequeue <= enqueue <= dequeue + capacity; a slot holding a value
 * (pos in [dequeue, enqueue)) has seq == pos + 1, a free one seq == pos (for the next lap). */
static void check_queue(const sk_run_t *run, const sk_queue_t *q, uint64_t *counts) {
    uint64_t enq = atomic_load_explicit(&((sk_queue_t *)q)->enqueue_pos, memory_order_acquire);
    uint64_t deq = atomic_load_explicit(&((sk_queue_t *)q)->dequeue_pos, memory_order_acquire);
    uint64_t cap = q->mask + 1;
    if (deq > enq || enq - deq > cap) {
        counts[SK_INV_QUEUE_INDEX]++;
        return; /* the cells cannot be judged against positions that are wrong */
    }
    for (uint64_t pos = deq; pos < deq + cap; pos++) {
        const sk_cell_t *cell = &q->cells[pos & q->mask];
        uint64_t seq = atomic_load_explicit(&((sk_cell_t *)cell)->seq, memory_order_acquire);
        bool full = pos < enq;
        /* an spsc popper never writes a slot back: a free one still says when it was last full */
        bool free_ok = seq == pos || (q->spsc && pos >= cap && seq == pos - cap + 1);
        if (full ? seq != pos + 1 : !free_ok) counts[SK_INV_QUEUE_CELL]++;
        else if (full) check_in_flight(run, &cell->entry, counts);
    }
}

static void check_threads(const sk_run_t *run, uint64_t *counts, bool drained) {
    for (uint32_t i = 0; i < run->nroles; i++) {
        const sk_role_t *r = &run->roles[i];
        for (uint32_t j = 0; j < r->cfg.threads; j++) {
            const sk_thread_t *t = &r->threads[j];
            if (t->has_pending) check_in_flight(run, &t->pending, counts);
            if (r->cfg.action != SK_ACT_RECLAIM) continue;
            if (t->limbo_cap != 0 && ((t->limbo_cap & (t->limbo_cap - 1)) != 0 || t->limbo_len > t->limbo_cap ||
                                      t->limbo_head >= t->limbo_cap || t->limbo_cap > r->cfg.limbo_max)) {
                counts[SK_INV_LIMBO_BOUNDS]++;
            } else {
                for (uint64_t k = 0; k < t->limbo_len; k++)
                    check_in_flight(run, &t->limbo[(t->limbo_head + k) & (t->limbo_cap - 1)], counts);
            }
            /* an SMR poll never frees a block before its grace (min_* are UINT64_MAX until a free) */
            if ((t->min_epochs != UINT64_MAX && t->min_epochs < r->cfg.grace_epochs) ||
                (t->min_age_ns != UINT64_MAX && t->min_age_ns < r->cfg.grace_ns))
                counts[SK_INV_GRACE_CUT_SHORT]++;
        }
    }
    if (!drained) return;
    uint64_t allocs = 0, frees = run->reaped_blocks;
    for (uint32_t i = 0; i < run->nroles; i++)
        for (uint32_t j = 0; j < run->roles[i].cfg.threads; j++) {
            allocs += run->roles[i].threads[j].allocs;
            frees += run->roles[i].threads[j].frees;
        }
    if (allocs != frees) counts[SK_INV_BOOKS_UNBALANCED]++;
}

/* How many serials of each claimed chunk were handed out: all of them, except in each thread's
 * current chunk (its serials from serial_next on are still to come). NULL if out of memory. */
static uint64_t *handed_out_per_chunk(const sk_run_t *run, uint64_t chunks) {
    uint64_t *used = malloc((chunks ? chunks : 1) * sizeof *used);
    if (used == NULL) return NULL;
    for (uint64_t c = 0; c < chunks; c++) used[c] = UINT64_C(1) << SK_OWN_CHUNK_BITS;
    for (uint32_t i = 0; i < run->nroles; i++)
        for (uint32_t j = 0; j < run->roles[i].cfg.threads; j++) {
            const sk_thread_t *t = &run->roles[i].threads[j];
            if (t->serial_end == 0) continue; /* never claimed a chunk */
            uint64_t c = (t->serial_end - 1) >> SK_OWN_CHUNK_BITS;
            if (c < chunks) used[c] = t->serial_next - (c << SK_OWN_CHUNK_BITS);
        }
    return used;
}

/* Every tracked serial handed out must be free again once the drain has run (those not handed out
 * yet read live, sk_own_raw); no serial is ever in state 3, which no transition produces. */
static void check_ownership(const sk_run_t *run, uint64_t *counts, bool drained) {
    uint64_t chunks = atomic_load(&((sk_run_t *)run)->next_chunk);
    if (chunks > run->own_chunks_max) chunks = run->own_chunks_max;
    uint64_t *used = drained ? handed_out_per_chunk(run, chunks) : NULL;
    for (uint64_t c = 0; c < chunks; c++) {
        _Atomic uint64_t *words = atomic_load_explicit(&run->own_dir[c], memory_order_acquire);
        if (words == NULL) continue;
        /* out of memory for the extents: judge every serial as handed out (never misses one) */
        uint64_t handed = used != NULL ? used[c] : UINT64_C(1) << SK_OWN_CHUNK_BITS;
        for (uint64_t w = 0; w < SK_OWN_WORDS; w++) {
            uint64_t bits = atomic_load_explicit(&words[w], memory_order_relaxed);
            for (unsigned k = 0; k < 32; k++) {
                unsigned st = sk_own_state_of((unsigned)(bits >> (2 * k)) & 3u);
                if (st > SK_OWN_RETIRED) counts[SK_INV_OWNERSHIP_STATE]++;
                else if (drained && st != SK_OWN_FREE && w * 32 + k < handed) counts[SK_INV_OWNED_AFTER_DRAIN]++;
            }
        }
    }
    free(used);
}

uint64_t sk_run_invariants(const sk_run_t *run, int32_t drained, uint64_t *counts) {
    if (counts == NULL) return 0;
    for (uint32_t i = 0; i < SK_INV_COUNT; i++) counts[i] = 0;
    if (run == NULL || !run->prepared) return 0;
    sk_run_t *m = (sk_run_t *)run; /* atomics are read, never written */
    for (uint32_t q = 0; q < run->nqueues; q++) check_queue(run, &run->queues[q], counts);
    check_threads(run, counts, drained != 0);
    sk_wl_invariants(run, counts);
    check_ownership(run, counts, drained != 0);
    uint64_t blocks = atomic_load(&m->unreclaimed_blocks), bytes = atomic_load(&m->unreclaimed_bytes);
    if (drained && (blocks != 0 || bytes != 0)) counts[SK_INV_UNRECLAIMED_AFTER_DRAIN]++;
    if (atomic_load(&m->peak_blocks) < blocks || atomic_load(&m->peak_bytes) < bytes) counts[SK_INV_PEAK_BELOW_CURRENT]++;
    uint64_t total = 0;
    for (uint32_t i = 0; i < SK_INV_COUNT; i++) total += counts[i];
    return total;
}

/* ---- planting each violation (tests of the checker only) ---- */

static sk_role_t *first_role(sk_run_t *run, int32_t action) {
    for (uint32_t i = 0; i < run->nroles; i++)
        if (action < 0 || run->roles[i].cfg.action == action) return &run->roles[i];
    return NULL;
}

static void set_own_state(sk_run_t *run, uint64_t serial, unsigned state) {
    _Atomic uint64_t *words = atomic_load(&run->own_dir[serial >> SK_OWN_CHUNK_BITS]);
    if (words == NULL) return;
    uint64_t idx = serial & ((UINT64_C(1) << SK_OWN_CHUNK_BITS) - 1);
    unsigned shift = (unsigned)(idx & 31) * 2;
    uint64_t w = atomic_load(&words[idx >> 5]);
    atomic_store(&words[idx >> 5], (w & ~(UINT64_C(3) << shift)) | ((uint64_t)sk_own_raw(state) << shift));
}

/* Each plant leaves the run drainable: no entry is lost, forged or freed twice, so the drain and
 * the checks after it still run (the tests see the reason counted, not a crash). */
int32_t sk_engine_testing_break_invariant(sk_run_t *run, uint32_t reason) {
    if (run == NULL || !run->prepared) return -1;
    sk_queue_t *q = run->nqueues > 0 ? &run->queues[0] : NULL;
    sk_role_t *r;
    switch (reason) {
        case SK_INV_QUEUE_INDEX: /* the drain then finds the queue empty: nothing is popped twice */
            if (q == NULL) return -1;
            atomic_store(&q->dequeue_pos, atomic_load(&q->enqueue_pos) + 1);
            return 0;
        case SK_INV_QUEUE_CELL: /* a slot the drain never reaches (not at the dequeue position) */
            if (q == NULL || atomic_load(&q->enqueue_pos) != atomic_load(&q->dequeue_pos)) return -1;
            /* by more than a lap: wrong whether the slot was never used or (spsc) last full a lap ago */
            atomic_fetch_add(&q->cells[(atomic_load(&q->enqueue_pos) + 1) & q->mask].seq, q->mask + 8);
            return 0;
        case SK_INV_OWNERSHIP_STATE:
        case SK_INV_OWNED_AFTER_DRAIN:
            if (atomic_load(&run->next_chunk) == 0) return -1;
            set_own_state(run, 0, reason == SK_INV_OWNERSHIP_STATE ? 3u : SK_OWN_LIVE);
            return 0;
        case SK_INV_IN_FLIGHT_NOT_OWNED:
        case SK_INV_FUTURE_EPOCH: {
            /* a real block left pending on a producer: the table says retired while the entry says
             * live, or it carries a retire epoch the run has not reached; the drain frees it */
            r = first_role(run, SK_ACT_PRODUCE);
            if (r == NULL && reason == SK_INV_IN_FLIGHT_NOT_OWNED) return sk_wl_break_in_flight(run);
            if (r == NULL || r->threads[0].has_pending) return -1;
            sk_thread_t *t = &r->threads[0];
            sk_entry_t e;
            bool exhausted;
            bool tracked = reason == SK_INV_IN_FLIGHT_NOT_OWNED;
            if (!sk_block_new(run, r, t, tracked, false, 64, &e, &exhausted)) return -1;
            if (tracked) {
                set_own_state(run, e.serial, SK_OWN_RETIRED);
            } else {
                e.epoch = atomic_load(&run->epoch) + 1;
                e.t_ns = sk_now_ns();
                sk_block_stamp_retired(&e);
                sk_unreclaimed_add(run, e.size);
            }
            t->pending = e;
            t->has_pending = true;
            return 0;
        }
        case SK_INV_LIMBO_BOUNDS: /* empty, so the drain walks none of it */
            r = first_role(run, SK_ACT_RECLAIM);
            if (r == NULL || r->threads[0].limbo_cap == 0 || r->threads[0].limbo_len != 0) return -1;
            r->threads[0].limbo_head = r->threads[0].limbo_cap;
            return 0;
        case SK_INV_GRACE_CUT_SHORT:
            r = first_role(run, SK_ACT_RECLAIM);
            if (r == NULL || (r->cfg.grace_epochs == 0 && r->cfg.grace_ns == 0)) return -1;
            r->threads[0].min_epochs = 0;
            r->threads[0].min_age_ns = 0;
            return 0;
        case SK_INV_BOOKS_UNBALANCED:
            r = first_role(run, -1);
            if (r == NULL) return -1;
            r->threads[0].allocs++;
            return 0;
        case SK_INV_UNRECLAIMED_AFTER_DRAIN:
            atomic_fetch_add(&run->unreclaimed_blocks, 1);
            atomic_fetch_add(&run->peak_blocks, 1); /* the peak stays above it: only this reason */
            return 0;
        case SK_INV_PEAK_BELOW_CURRENT: /* (also left unreclaimed after the drain) */
            atomic_store(&run->peak_bytes, 0);
            atomic_fetch_add(&run->unreclaimed_bytes, 1);
            return 0;
        default: return -1;
    }
}
