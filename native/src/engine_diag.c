/* Diagnostics: what the engine can say about a failure beyond a count (sk_engine.h, section
 * "diagnostics"). Everything here is a slow path or runs after the role threads: the hot path
 * only stamps blocks before freeing them (engine_block.c), remembers its last takes
 * (sk_diag_taken) and its chunk's start time. Records go into buffers allocated once by
 * sk_run_prepare, so nothing allocates while mimalloc's heap is being visited or while a role
 * thread reports a damaged block. */
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

#define SK_WHO_MASK ((UINT64_C(1) << 20) - 1)

/* The retirer rides in the high bits of sk_entry_t.usable rather than in a field of its own:
 * an entry and its sequence number must stay one cache line per queue cell. */
_Static_assert(sizeof(sk_cell_t) == SK_CACHE_LINE, "a queue cell must stay one cache line");

struct sk_diag {
    /* Chunk c of tracked serials: (who claimed it) | (its ordinal among that thread's chunks)
     * << 20; 0 while unclaimed. Written once by the claimer, before any serial of it is used. */
    _Atomic uint64_t *chunk_owner;
    uint64_t chunks;
    /* the last sk_run_mimalloc_leaks (driver only) */
    sk_leak_record_t leaks[SK_DIAG_MAX_LEAKS];
    size_t nleaks;
    sk_leak_group_t groups[SK_DIAG_MAX_GROUPS];
    size_t ngroups;
    /* the drain (driver only) */
    uint64_t inflight_blocks[SK_DIAG_LOCATIONS], inflight_bytes[SK_DIAG_LOCATIONS];
    /* slow paths of any thread: a slot is claimed by the counter, read after the threads joined */
    alignas(SK_CACHE_LINE) _Atomic uint64_t ndamaged;
    _Atomic uint64_t ndoubles;
    sk_damage_t damaged[SK_DIAG_MAX_DAMAGED];
    sk_double_t doubles[SK_DIAG_MAX_DOUBLES];
};

bool sk_diag_init(sk_run_t *run) {
    if (run->diag != NULL) return true;
    /* The struct holds a cache-line-aligned member: calloc only promises max_align_t's alignment
     * (UBSAN: "member access within misaligned address"). sizeof is a multiple of the alignment. */
    struct sk_diag *d = sk_aligned_alloc(alignof(struct sk_diag), sizeof *d);
    if (d == NULL) return false;
    memset(d, 0, sizeof *d);
    d->chunks = run->own_chunks_max;
    d->chunk_owner = calloc(d->chunks, sizeof *d->chunk_owner);
    if (d->chunk_owner == NULL) {
        sk_aligned_free(d);
        return false;
    }
    run->diag = d;
    return true;
}

void sk_diag_fini(sk_run_t *run) {
    if (run->diag == NULL) return;
    free((void *)run->diag->chunk_owner);
    sk_aligned_free(run->diag);
    run->diag = NULL;
}

void sk_diag_chunk_claimed(sk_run_t *run, sk_thread_t *t, uint64_t chunk) {
    struct sk_diag *d = run->diag;
    uint64_t ordinal = t->diag_chunks++;
    if (d != NULL && chunk < d->chunks)
        atomic_store_explicit(&d->chunk_owner[chunk], (uint64_t)sk_who_thread(t) | ordinal << 20,
                              memory_order_relaxed);
}

/* Who allocated a block and its index among that thread's blocks of its class. */
static void decode_serial(const sk_run_t *run, uint64_t serial, uint32_t *who, uint64_t *index) {
    if (serial & SK_SERIAL_UNTRACKED) {
        *who = (uint32_t)((serial >> 40) & 0x7FFFFF) + 1;
        *index = serial & ((UINT64_C(1) << 40) - 1);
        return;
    }
    uint64_t chunk = serial >> SK_OWN_CHUNK_BITS;
    uint64_t owner = run->diag != NULL && chunk < run->diag->chunks
                         ? atomic_load_explicit(&run->diag->chunk_owner[chunk], memory_order_relaxed)
                         : 0;
    if (owner == 0) {
        *who = 0;
        *index = SK_DIAG_UNKNOWN;
        return;
    }
    *who = (uint32_t)(owner & SK_WHO_MASK);
    *index = (owner >> 20) << SK_OWN_CHUNK_BITS | (serial & ((UINT64_C(1) << SK_OWN_CHUNK_BITS) - 1));
}

uint32_t sk_diag_allocator(const sk_run_t *run, uint64_t serial) {
    uint32_t who;
    uint64_t index;
    decode_serial(run, serial, &who, &index);
    return who;
}

/* Absolute monotonic time -> since the run's start (0 stays unknown). */
static uint64_t since_start(const sk_run_t *run, uint64_t ns) {
    if (ns == 0) return SK_DIAG_UNKNOWN;
    return ns > run->t0 ? ns - run->t0 : 0;
}

/* A free-stamp time field (units of 1024 ns since the start; all ones = unknown). */
static uint64_t stamp_ns(uint64_t field) {
    field &= SK_USABLE_MASK;
    return field == SK_USABLE_MASK ? SK_DIAG_UNKNOWN : field << 10;
}

static uint64_t word_at(const unsigned char *p, uint64_t off) {
    uint64_t w;
    memcpy(&w, p + off, 8);
    return w;
}

/* ---- corruption ---- */

static uint32_t region_of(const sk_entry_t *e, uint64_t n, uint64_t off) {
    if (n < SK_MIN_BLOCK) return 3;
    if (off < 8) return 0;
    if (off < 16) return 1;
    if (e->t_ns != 0 && n >= 32 && off < 32) return 2;
    return 3;
}

/* First byte that differs from what verify() expects. Blocks above 4 KiB are verified only in
 * their first 272 and last 64 bytes, so only those are searched (at most ~4 KiB of compares). */
static uint64_t first_wrong(const sk_run_t *run, const sk_entry_t *e, uint64_t n) {
    const unsigned char *p = e->ptr;
    uint64_t head = n < 4096 ? n : 4096;
    unsigned char x;
    for (uint64_t off = 0; off < head; off++)
        if (sk_block_expected(run, e, off, &x) && p[off] != x) return off;
    for (uint64_t off = n > 4096 + 64 ? n - 64 : head; off < n; off++)
        if (sk_block_expected(run, e, off, &x) && p[off] != x) return off;
    return SK_DIAG_UNKNOWN;
}

void sk_diag_damaged(sk_run_t *run, const sk_entry_t *e, uint32_t finder) {
    struct sk_diag *d = run->diag;
    if (d == NULL) return;
    uint64_t i = atomic_fetch_add_explicit(&d->ndamaged, 1, memory_order_relaxed);
    if (i >= SK_DIAG_MAX_DAMAGED) return;
    sk_damage_t *r = &d->damaged[i];
    memset(r, 0, sizeof *r);
    const unsigned char *p = e->ptr;
    uint64_t n = sk_block_extent(e);
    r->address = (uint64_t)(uintptr_t)e->ptr;
    r->size = e->size;
    r->usable = sk_entry_usable(e);
    r->serial = e->serial;
    decode_serial(run, e->serial, &r->alloc_who, &r->alloc_index);
    r->finder = finder;
    r->retirer = sk_entry_retirer(e);
    r->born_ns = stamp_ns(sk_entry_born_units(run->t0, e));
    r->retire_ns = since_start(run, e->t_ns);
    r->retire_epoch = e->t_ns != 0 ? e->epoch : SK_DIAG_UNKNOWN;
    r->found_ns = since_start(run, sk_now_ns());
    r->offset = first_wrong(run, e, n);
    uint64_t at = r->offset == SK_DIAG_UNKNOWN ? 0 : r->offset;
    r->region = region_of(e, n, at);
    uint64_t start = at >= SK_DIAG_WINDOW / 2 ? at - SK_DIAG_WINDOW / 2 : 0;
    if (start + SK_DIAG_WINDOW > n) start = n > SK_DIAG_WINDOW ? n - SK_DIAG_WINDOW : 0;
    r->window_start = start;
    r->window_len = (uint32_t)(n - start < SK_DIAG_WINDOW ? n - start : SK_DIAG_WINDOW);
    memcpy(r->actual, p + start, r->window_len);
    for (uint32_t k = 0; k < r->window_len; k++) {
        if (sk_block_expected(run, e, start + k, &r->expected[k]))
            r->checked |= UINT32_C(1) << k;
        else
            r->expected[k] = r->actual[k];
    }
}

/* ---- double hand-off / double free ---- */

/* The thread whose ring of recent takes holds `serial` (0: none does any more). The rings are
 * read while their owners keep writing them: a best-effort answer, never a wrong block touched. */
static uint32_t find_taker(const sk_run_t *run, uint64_t serial) {
    for (uint32_t i = 0; i < run->nroles; i++)
        for (uint32_t j = 0; j < run->roles[i].cfg.threads; j++) {
            sk_thread_t *t = &run->roles[i].threads[j];
            for (uint32_t k = 0; k < SK_DIAG_RING; k++)
                if (atomic_load_explicit(&t->diag_taken[k], memory_order_relaxed) == serial + 1)
                    return sk_who_thread(t);
        }
    return 0;
}

void sk_diag_double(sk_run_t *run, const sk_entry_t *e, uint32_t loser, int32_t queue) {
    struct sk_diag *d = run->diag;
    if (d == NULL) return;
    uint64_t i = atomic_fetch_add_explicit(&d->ndoubles, 1, memory_order_relaxed);
    if (i >= SK_DIAG_MAX_DOUBLES) return;
    sk_double_t *r = &d->doubles[i];
    memset(r, 0, sizeof *r);
    r->address = (uint64_t)(uintptr_t)e->ptr; /* the value only: the block may be gone */
    r->size = e->size;
    r->serial = e->serial;
    decode_serial(run, e->serial, &r->alloc_who, &r->alloc_index);
    r->loser = loser;
    r->state = sk_own_state(run, e->serial);
    r->winner = find_taker(run, e->serial);
    r->queue = queue;
    r->born_ns = stamp_ns(sk_entry_born_units(run->t0, e));
    r->found_ns = since_start(run, sk_now_ns());
}

/* ---- in flight at the drain ---- */

void sk_diag_inflight(sk_run_t *run, const sk_entry_t *e, uint32_t loc) {
    if (run->diag == NULL || loc >= SK_DIAG_LOCATIONS) return;
    run->diag->inflight_blocks[loc]++;
    run->diag->inflight_bytes[loc] += e->size;
}

/* ---- mimalloc's view: the leak ledger ---- */

void sk_diag_leak_scan_begin(sk_run_t *run) {
    if (run->diag == NULL) return;
    run->diag->nleaks = 0;
    run->diag->ngroups = 0;
}

/* The smallest c with size <= 2^c (a loop: no compiler builtin, runs once per leaked block). */
static uint32_t size_class(uint64_t size) {
    uint32_t c = 0;
    while (c < 63 && (UINT64_C(1) << c) < size) c++;
    return c;
}

static void add_to_group(struct sk_diag *d, const sk_leak_record_t *r) {
    uint32_t cls = size_class(r->size);
    for (size_t i = 0; i < d->ngroups; i++) {
        sk_leak_group_t *g = &d->groups[i];
        if (g->alloc_who == r->alloc_who && g->state == r->state && g->freer == r->freer && g->size_class == cls) {
            g->blocks++;
            g->bytes += r->size;
            return;
        }
    }
    sk_leak_group_t *g;
    if (d->ngroups < SK_DIAG_MAX_GROUPS - 1) {
        g = &d->groups[d->ngroups++];
        *g = (sk_leak_group_t){.alloc_who = r->alloc_who, .state = r->state, .freer = r->freer, .size_class = cls};
    } else { /* the last slot sums everything that found no room */
        g = &d->groups[SK_DIAG_MAX_GROUPS - 1];
        if (d->ngroups < SK_DIAG_MAX_GROUPS) {
            d->ngroups = SK_DIAG_MAX_GROUPS;
            *g = (sk_leak_group_t){.size_class = 255, .state = UINT32_MAX};
        }
    }
    g->blocks++;
    g->bytes += r->size;
}

/* The retire stamp and the free stamp of a leaked block, as stamp_freed and
 * sk_block_stamp_retired (engine_block.c) laid them out. */
static void decode_stamps(const sk_run_t *run, const unsigned char *p, sk_leak_record_t *r, uint64_t room) {
    uint64_t size = r->size;
    uint64_t want = size < SK_MIN_BLOCK ? SK_MIN_BLOCK : size;
    uint64_t n = want < room ? want : room;
    bool retired = r->state == SK_STATE_RETIRED || r->state == SK_STATE_FREED_RETIRED;
    uint64_t at = r->state == SK_STATE_FREED ? 16 : 32;
    if (retired && n >= 32 && (r->state == SK_STATE_RETIRED || n >= 48)) {
        r->retire_epoch = word_at(p, 16);
        r->retire_ns = since_start(run, word_at(p, 24));
    }
    if (r->state == SK_STATE_FREED_RETIRED && n < 48) at = 16;
    if (r->state >= SK_STATE_FREED && n >= at + 16) {
        uint64_t a = word_at(p, at), b = word_at(p, at + 8);
        r->freer = (uint32_t)(a >> SK_USABLE_BITS);
        r->freed_ns = stamp_ns(a);
        r->retirer = (uint32_t)(b >> SK_USABLE_BITS);
        r->born_ns = stamp_ns(b);
    }
}

void sk_diag_leak_found(sk_run_t *run, const unsigned char *p, uint64_t serial, uint64_t w1, uint64_t room) {
    struct sk_diag *d = run->diag;
    if (d == NULL) return;
    uint64_t tag = w1 >> 48, size = sk_header_size(w1);
    sk_leak_record_t r = {.address = (uint64_t)(uintptr_t)p, .size = size, .serial = serial,
                          .born_ns = SK_DIAG_UNKNOWN, .freed_ns = SK_DIAG_UNKNOWN,
                          .retire_epoch = SK_DIAG_UNKNOWN, .retire_ns = SK_DIAG_UNKNOWN};
    r.state = tag == SK_TAG_LIVE ? SK_STATE_LIVE
              : tag == SK_TAG_RETIRED ? SK_STATE_RETIRED
              : tag == SK_TAG_FREED || tag == SK_TAG_FREED_SMALL ? SK_STATE_FREED : SK_STATE_FREED_RETIRED;
    decode_serial(run, serial, &r.alloc_who, &r.alloc_index);
    if (sk_tag_small(tag)) {
        r.freer = (uint32_t)((w1 >> 8) & SK_WHO_MASK);
        r.freed_ns = ((w1 >> 28) & 0xFFFFF) << 20;
    } else {
        decode_stamps(run, p, &r, room);
    }
    add_to_group(d, &r);
    if (d->nleaks < SK_DIAG_MAX_LEAKS) d->leaks[d->nleaks++] = r;
}

/* ---- public readers ---- */

size_t sk_run_leak_records(const sk_run_t *run, sk_leak_record_t *out, size_t cap) {
    if (run == NULL || run->diag == NULL) return 0;
    size_t n = run->diag->nleaks;
    if (out != NULL) memcpy(out, run->diag->leaks, (n < cap ? n : cap) * sizeof *out);
    return n;
}

size_t sk_run_leak_groups(const sk_run_t *run, sk_leak_group_t *out, size_t cap) {
    if (run == NULL || run->diag == NULL) return 0;
    size_t n = run->diag->ngroups;
    if (out != NULL) memcpy(out, run->diag->groups, (n < cap ? n : cap) * sizeof *out);
    return n;
}

uint64_t sk_run_inflight(const sk_run_t *run, uint64_t *blocks, uint64_t *bytes) {
    if (run == NULL || run->diag == NULL) return 0;
    uint64_t total = 0;
    for (size_t i = 0; i < SK_DIAG_LOCATIONS; i++) {
        if (blocks != NULL) blocks[i] = run->diag->inflight_blocks[i];
        if (bytes != NULL) bytes[i] = run->diag->inflight_bytes[i];
        total += run->diag->inflight_blocks[i];
    }
    return total;
}

/* Copy the first min(count, max, cap) records of a slow-path array; returns the full count. */
static uint64_t copy_kept(const _Atomic uint64_t *count, const void *records, size_t size, size_t max, void *out,
                          size_t cap) {
    uint64_t n = atomic_load((_Atomic uint64_t *)count);
    size_t kept = n < max ? (size_t)n : max;
    if (out != NULL) memcpy(out, records, (kept < cap ? kept : cap) * size);
    return n;
}

uint64_t sk_run_damaged(const sk_run_t *run, sk_damage_t *out, size_t cap) {
    if (run == NULL || run->diag == NULL) return 0;
    return copy_kept(&run->diag->ndamaged, run->diag->damaged, sizeof *out, SK_DIAG_MAX_DAMAGED, out, cap);
}

uint64_t sk_run_doubles(const sk_run_t *run, sk_double_t *out, size_t cap) {
    if (run == NULL || run->diag == NULL) return 0;
    return copy_kept(&run->diag->ndoubles, run->diag->doubles, sizeof *out, SK_DIAG_MAX_DOUBLES, out, cap);
}
