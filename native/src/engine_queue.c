/* The engine's hand-off queue: Dmitry Vyukov's bounded MPMC ring. Each slot carries a sequence
 * number that says whose turn it is (a producer for lap k when seq == pos, a consumer when
 * seq == pos + 1), so a push or pop is one CAS on a position counter plus a release store on the
 * slot: lock-free, FIFO per position, and no slot is ever read and written at once. */
#include "engine_internal.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

void sk_cpu_relax(void) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A short spin (30 pauses in all, about a microsecond), then yield the core at every attempt.
 * Measured on 2 shared cores (docs/performance.md, "Stable runs"): the two ends of a hand-off
 * often share one core there, and every pause spent spinning is time the other end cannot use;
 * the earlier 510-pause spin made the same scenario bimodal (fast when the two ran on two cores,
 * 3-4x slower when they met on one). */
enum { SK_SPIN_ATTEMPTS = 8 };

void sk_backoff(uint32_t attempt) {
    if (attempt < SK_SPIN_ATTEMPTS) {
        for (uint32_t i = 0; i < (1u << (attempt / 2)); i++) sk_cpu_relax();
    } else {
        sched_yield();
    }
}

bool sk_queue_init(sk_queue_t *q, uint64_t capacity) {
    if (capacity < 2 || capacity > SK_QUEUE_MAX_CAPACITY || (capacity & (capacity - 1)) != 0)
        return false;
    memset(q, 0, sizeof *q);
    q->cells = sk_aligned_alloc(SK_CACHE_LINE, capacity * sizeof(sk_cell_t));
    if (q->cells == NULL) return false;
    for (uint64_t i = 0; i < capacity; i++) {
        atomic_init(&q->cells[i].seq, i);
        memset(&q->cells[i].entry, 0, sizeof q->cells[i].entry);
    }
    q->mask = capacity - 1;
    atomic_init(&q->enqueue_pos, 0);
    atomic_init(&q->dequeue_pos, 0);
    atomic_init(&q->upstream_done, 0);
    q->downstream_total = 0;
    atomic_init(&q->downstream_done, 0);
    return true;
}

void sk_queue_fini(sk_queue_t *q) {
    sk_aligned_free(q->cells);
    q->cells = NULL;
}

sk_entry_t *sk_queue_reserve(sk_queue_t *q) {
    uint64_t pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
    if (q->spsc) {
        if (pos - q->seen_dequeue > q->mask) {
            q->seen_dequeue = atomic_load_explicit(&q->dequeue_pos, memory_order_acquire);
            if (pos - q->seen_dequeue > q->mask) return NULL; /* full */
        }
        /* the popper read that slot's line a lap ago: ask for it a few slots early */
        SK_PREFETCH_WRITE(&q->cells[(pos + SK_PREFETCH_AHEAD) & q->mask]);
        return &q->cells[pos & q->mask].entry;
    }
    if (q->solo_push) {
        sk_cell_t *cell = &q->cells[pos & q->mask];
        if ((int64_t)(atomic_load_explicit(&cell->seq, memory_order_acquire) - pos) < 0) return NULL;
        return &cell->entry;
    }
    return NULL; /* several pushers: a slot is only theirs once claimed, use sk_queue_try_push */
}

void sk_queue_commit(sk_queue_t *q) {
    uint64_t pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
    sk_cell_t *cell = &q->cells[pos & q->mask];
    if (q->spsc) {
        atomic_store_explicit(&cell->seq, pos + 1, memory_order_relaxed);
        atomic_store_explicit(&q->enqueue_pos, pos + 1, memory_order_release);
    } else {
        atomic_store_explicit(&q->enqueue_pos, pos + 1, memory_order_relaxed);
        atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
    }
}

bool sk_queue_try_push(sk_queue_t *q, const sk_entry_t *e) {
    if (q->spsc || q->solo_push) { /* one pushing thread: reserve, fill, publish */
        sk_entry_t *slot = sk_queue_reserve(q);
        if (slot == NULL) return false; /* full */
        sk_entry_copy(slot, e);
        sk_queue_commit(q);
        return true;
    }
    uint64_t pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
    sk_cell_t *cell;
    for (;;) {
        cell = &q->cells[pos & q->mask];
        uint64_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->enqueue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return false; /* the slot still holds the previous lap's value: full */
        } else {
            pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
        }
    }
    sk_entry_copy(&cell->entry, e);
    atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
    return true;
}

bool sk_queue_try_pop(sk_queue_t *q, sk_entry_t *e) {
    uint64_t pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
    sk_cell_t *cell;
    if (q->spsc) {
        if ((int64_t)(q->seen_enqueue - pos) <= 0) {
            q->seen_enqueue = atomic_load_explicit(&q->enqueue_pos, memory_order_acquire);
            if ((int64_t)(q->seen_enqueue - pos) <= 0) return false; /* empty (or a broken index) */
        }
        *e = q->cells[pos & q->mask].entry;
        /* the next published block (written by the pusher's core) is read next: fetch it now */
        if ((int64_t)(q->seen_enqueue - pos) > 1) SK_PREFETCH_READ(q->cells[(pos + 1) & q->mask].entry.ptr);
        atomic_store_explicit(&q->dequeue_pos, pos + 1, memory_order_release);
        return true;
    }
    if (q->solo_pop) {
        cell = &q->cells[pos & q->mask];
        if ((int64_t)(atomic_load_explicit(&cell->seq, memory_order_acquire) - (pos + 1)) < 0) return false;
        atomic_store_explicit(&q->dequeue_pos, pos + 1, memory_order_relaxed);
        *e = cell->entry;
        atomic_store_explicit(&cell->seq, pos + q->mask + 1, memory_order_release);
        return true;
    }
    for (;;) {
        cell = &q->cells[pos & q->mask];
        uint64_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - (pos + 1));
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->dequeue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return false; /* not yet written for this lap: empty */
        } else {
            pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
        }
    }
    *e = cell->entry;
    atomic_store_explicit(&cell->seq, pos + q->mask + 1, memory_order_release);
    return true;
}

/* ---- standalone queue for tests ---- */

sk_queue_t *sk_queue_create(uint64_t capacity) {
    sk_queue_t *q = sk_aligned_alloc(SK_CACHE_LINE, sizeof(sk_queue_t));
    if (q == NULL) return NULL;
    if (!sk_queue_init(q, capacity)) {
        sk_aligned_free(q);
        return NULL;
    }
    return q;
}

void sk_queue_destroy(sk_queue_t *queue) {
    if (queue == NULL) return;
    sk_queue_fini(queue);
    sk_aligned_free(queue);
}

uint64_t sk_queue_capacity(const sk_queue_t *queue) { return queue == NULL ? 0 : queue->mask + 1; }

bool sk_queue_push(sk_queue_t *queue, uint64_t value) {
    sk_entry_t e = {.serial = value};
    return sk_queue_try_push(queue, &e);
}

bool sk_queue_pop(sk_queue_t *queue, uint64_t *value) {
    sk_entry_t e;
    if (!sk_queue_try_pop(queue, &e)) return false;
    *value = e.serial;
    return true;
}

static void probe_enter(sk_overlap_t *probe) {
    if (probe == NULL) return;
    int64_t now = atomic_fetch_add(&probe->inside, 1) + 1;
    sk_atomic_max_i64(&probe->max_inside, now);
}

static void probe_leave(sk_overlap_t *probe) {
    if (probe != NULL) atomic_fetch_sub(&probe->inside, 1);
}

uint64_t sk_queue_test_produce(sk_queue_t *queue, uint64_t first, uint64_t count, sk_overlap_t *probe) {
    probe_enter(probe);
    uint64_t retries = 0;
    for (uint64_t i = 0; i < count; i++) {
        sk_entry_t e = {.serial = first + i};
        uint32_t attempt = 0;
        while (!sk_queue_try_push(queue, &e)) {
            retries++;
            sk_backoff(attempt++);
        }
    }
    probe_leave(probe);
    return retries;
}

uint64_t sk_queue_test_consume(sk_queue_t *queue, uint64_t *out, uint64_t cap, uint64_t sentinel,
                               sk_overlap_t *probe) {
    probe_enter(probe);
    uint64_t n = 0;
    uint32_t attempt = 0;
    while (n < cap) {
        sk_entry_t e;
        if (!sk_queue_try_pop(queue, &e)) {
            sk_backoff(attempt++);
            continue;
        }
        attempt = 0;
        if (e.serial == sentinel) break;
        out[n++] = e.serial;
    }
    probe_leave(probe);
    return n;
}
