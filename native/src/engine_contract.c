/* The glue's contract, checked from the outside while the engine runs: contract-edge probes,
 * the per-role and whole-run check counters, mimalloc's own view of what is left after the
 * drain, and the timer's calibration. The per-block checks live with the blocks
 * (engine_block.c); this file holds what does not belong to one block. */
#include "engine_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <mimalloc.h>

#if defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define SK_ASAN 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(SK_ASAN)
#  include <sanitizer/asan_interface.h>
/* Built for `run --sanitize address`: mimalloc (MI_TRACK_ASAN) poisons every byte of a block
 * outside what was asked for, and the leak scan below reads raw blocks, so it skips those. */
#  define SK_READABLE(p, n) (__asan_region_is_poisoned((void *)(p), (n)) == NULL)
#else
#  define SK_READABLE(p, n) true
#endif

/* ---- contract-edge probes ---- */

enum {
    PROBE_SIZE0 = 0,
    PROBE_CALLOC_OVERFLOW,
    PROBE_OVERSIZED,
    PROBE_BAD_ALIGNMENT,
    PROBE_CALLOC_FACTORS,
    PROBE_TINY,
    PROBE_TINY_NODE,
    PROBE_FREE_NULL,
    PROBE_COUNT
};

/* Not powers of two, or below sizeof(void *): each must give NULL with EINVAL. */
static const size_t bad_alignments[] = {0, 1, 2, 4, 3, 24, 48, 100, 4095, 12288};
enum { BAD_ALIGNMENTS = sizeof bad_alignments / sizeof bad_alignments[0] };

/* errno is set to this before a call that must leave it alone (size 0). */
#define PROBE_ERRNO_SENTINEL EDOM

/* A probe's block goes into the ledger as allocated and freed at once (the glue counts both). */
static void ledger_round_trip(sk_checks_t *c, size_t usable) {
    c->allocs++;
    c->usable_allocated += usable;
    c->frees++;
    c->usable_freed += usable;
}

/* A block a probe got back: check what the contract promises for it and give it back at once. */
static void probe_block(sk_checks_t *c, void *p, size_t size, size_t alignment, bool zeroed) {
    size_t usable = cc_usable_size(p);
    ledger_round_trip(c, usable);
    if (((uintptr_t)p & (alignment - 1)) != 0) c->misaligned++;
    if (usable < size) c->short_blocks++;
    if (zeroed) {
        const unsigned char *b = p;
        for (size_t i = 0; i < size && i < usable; i++) {
            if (b[i] != 0) {
                c->calloc_dirty++;
                break;
            }
        }
    }
    cc_free(p, size);
}

/* A block where the contract says NULL: count the violation, keep the ledger exact, free it. */
static void unexpected_block(sk_checks_t *c, void *p, uint64_t *violations) {
    (*violations)++;
    ledger_round_trip(c, cc_usable_size(p));
    cc_free_unsized(p);
}

/* A request the contract says cannot be met: NULL with ENOMEM, counted by the glue as failed. */
static void expect_enomem(sk_checks_t *c, void *p, int err) {
    if (p != NULL) {
        unexpected_block(c, p, &c->overflow_accepted);
        return;
    }
    c->enomem_nulls++;
    if (err != ENOMEM) c->bad_errno++;
}

static void *oversized(int32_t kind, uint64_t salt) {
    switch (kind) {
        case SK_KIND_CALLOC: return cc_calloc(1, SIZE_MAX - salt);
        case SK_KIND_ALIGNED: return cc_alloc_aligned(SIZE_MAX / 2 + salt, 64);
        case SK_KIND_NODE: return cc_alloc_node(SIZE_MAX - salt); /* rounding up would overflow */
        default: return cc_alloc(SIZE_MAX - 64 - salt);
    }
}

static void *size_zero(int32_t kind, uint64_t alignment, uint64_t salt) {
    switch (kind) {
        case SK_KIND_CALLOC: return (salt & 1) ? cc_calloc(0, 8 + salt) : cc_calloc(8 + salt, 0);
        case SK_KIND_ALIGNED: return cc_alloc_aligned(0, alignment);
        case SK_KIND_NODE: return cc_alloc_node(0);
        default: return cc_alloc(0);
    }
}

void sk_edge_probe(sk_run_t *run, sk_role_t *r, sk_thread_t *t) {
    (void)run;
    sk_checks_t *c = &t->checks;
    uint64_t salt = sk_rand(&t->sample_rng) & 0x3F; /* varies sizes so probes hit several classes */
    uint32_t which = t->probe_next;
    t->probe_next = (which + 1) % PROBE_COUNT;
    c->probes++;
    void *p;
    switch (which) {
        case PROBE_SIZE0:
            errno = PROBE_ERRNO_SENTINEL;
            p = size_zero(r->cfg.kind, r->cfg.alignment ? r->cfg.alignment : 16, salt);
            if (errno != PROBE_ERRNO_SENTINEL) c->bad_errno++;
            if (p != NULL) unexpected_block(c, p, &c->size0_blocks);
            break;
        case PROBE_CALLOC_OVERFLOW: {
            size_t size = 16 + (size_t)salt;
            errno = 0;
            p = cc_calloc(SIZE_MAX / size + 1, size);
            expect_enomem(c, p, errno);
            break;
        }
        case PROBE_OVERSIZED:
            errno = 0;
            p = oversized(r->cfg.kind, salt);
            expect_enomem(c, p, errno);
            break;
        case PROBE_BAD_ALIGNMENT: {
            size_t alignment = bad_alignments[salt % BAD_ALIGNMENTS];
            errno = 0;
            p = cc_alloc_aligned(64, alignment);
            if (p != NULL) {
                unexpected_block(c, p, &c->invalid_accepted);
            } else if (errno != EINVAL) {
                c->bad_errno++;
            }
            break;
        }
        case PROBE_CALLOC_FACTORS: {
            /* both factors odd and > 1: a glue that multiplies wrongly or zeroes only `size`
             * bytes shows it here, which cc_calloc(1, n) never would */
            size_t count = 3 + 2 * (size_t)(salt & 7), size = 5 + 2 * (size_t)(salt >> 3);
            errno = 0;
            p = cc_calloc(count, size);
            if (p == NULL) expect_enomem(c, p, errno); else probe_block(c, p, count * size, _Alignof(max_align_t), true);
            break;
        }
        case PROBE_TINY: {
            size_t size = 1 + (size_t)(salt % 15);
            errno = 0;
            p = cc_alloc(size);
            if (p == NULL) expect_enomem(c, p, errno); else probe_block(c, p, size, _Alignof(max_align_t), false);
            break;
        }
        case PROBE_TINY_NODE: {
            size_t size = 1 + (size_t)salt;
            errno = 0;
            p = cc_alloc_node(size);
            if (p == NULL) {
                expect_enomem(c, p, errno);
            } else {
                size_t lines = (size + CC_CACHE_LINE_SIZE - 1) & ~(size_t)(CC_CACHE_LINE_SIZE - 1);
                probe_block(c, p, lines, CC_CACHE_LINE_SIZE, false);
            }
            break;
        }
        case PROBE_FREE_NULL:
        default:
            /* must be no-ops, and must not be counted as frees (the ledger comparison sees it) */
            cc_free(NULL, 64);
            cc_free_unsized(NULL);
            break;
    }
}

/* ---- check counters ---- */

static void add_checks(sk_checks_t *into, const sk_checks_t *from) {
    into->misaligned += from->misaligned;
    into->short_blocks += from->short_blocks;
    into->calloc_dirty += from->calloc_dirty;
    into->bad_errno += from->bad_errno;
    into->size0_blocks += from->size0_blocks;
    into->invalid_accepted += from->invalid_accepted;
    into->overflow_accepted += from->overflow_accepted;
    into->probes += from->probes;
    into->allocs += from->allocs;
    into->frees += from->frees;
    into->usable_allocated += from->usable_allocated;
    into->usable_freed += from->usable_freed;
    into->enomem_nulls += from->enomem_nulls;
}

int32_t sk_run_role_checks(const sk_run_t *run, uint32_t role, sk_checks_t *out) {
    if (run == NULL || out == NULL || !run->prepared || role >= run->nroles) return -1;
    memset(out, 0, sizeof *out);
    const sk_role_t *r = &run->roles[role];
    for (uint32_t j = 0; j < r->cfg.threads; j++) add_checks(out, &r->threads[j].checks);
    return 0;
}

void sk_run_checks(const sk_run_t *run, sk_checks_t *out) {
    if (out == NULL) return;
    memset(out, 0, sizeof *out);
    if (run == NULL) return;
    for (uint32_t i = 0; run->prepared && i < run->nroles; i++) {
        sk_checks_t role;
        sk_run_role_checks(run, i, &role);
        add_checks(out, &role);
    }
    add_checks(out, &run->drain_checks);
    out->mimalloc_leaked_blocks = run->mimalloc_leaked_blocks;
    out->mimalloc_leaked_bytes = run->mimalloc_leaked_bytes;
    out->timer_overhead_ns = run->timer_overhead_ns;
}

/* ---- mimalloc's view after the drain ---- */

typedef struct leak_scan {
    sk_run_t *run;
    uint64_t tracked_end;      /* serials below this were handed out */
    uint64_t threads;          /* untracked serials carry a thread index below this */
    uint64_t local_end;        /* and a per-thread count below this */
    uint64_t blocks, bytes;
} leak_scan_t;

static bool is_run_block(const leak_scan_t *s, const unsigned char *p, size_t room, uint64_t *size,
                         uint64_t *serial_out, uint64_t *w1_out) {
    uint64_t w0, w1;
    memcpy(&w0, p, 8);
    memcpy(&w1, p + 8, 8);
    uint64_t tag = w1 >> 48;
    if (tag != SK_TAG_LIVE && tag != SK_TAG_RETIRED && tag != SK_TAG_FREED && tag != SK_TAG_FREED_RETIRED &&
        !sk_tag_small(tag))
        return false;
    *size = sk_header_size(w1);
    if (*size == 0 || *size > room) return false;
    uint64_t serial = sk_identity_serial(s->run->identity_key, w0); /* a block is recognised as this run's without a table of addresses */
    *serial_out = serial;
    *w1_out = w1;
    if (serial & SK_SERIAL_UNTRACKED) {
        uint64_t thread = (serial >> 40) & 0x7FFFFF, local = serial & ((UINT64_C(1) << 40) - 1);
        return thread < s->threads && local < s->local_end;
    }
    return serial < s->tracked_end;
}

/* The user pointer of an aligned block may sit inside mimalloc's block, so look for the header
 * at every 16-byte offset (only a handful of blocks are still allocated after a drain). */
static bool count_leak(const mi_heap_t *heap, const mi_heap_area_t *area, void *block, size_t block_size, void *arg) {
    (void)heap;
    (void)area;
    if (block == NULL || block_size < SK_MIN_BLOCK) return true;
    leak_scan_t *s = arg;
    const unsigned char *b = block;
    /* The engine's own diagnostics keep copies of damaged blocks' headers (their byte windows)
     * in a block of their own: that copy is not a leaked block. */
    const unsigned char *diag = (const unsigned char *)s->run->diag;
    if (diag != NULL && diag >= b && diag < b + block_size) return true;
    for (size_t off = 0; off + SK_MIN_BLOCK <= block_size; off += 16) {
        uint64_t size, serial, w1;
        if (!SK_READABLE(b + off, 16)) continue;
        if (is_run_block(s, b + off, block_size - off, &size, &serial, &w1)) {
            s->blocks++;
            s->bytes += size;
            sk_diag_leak_found(s->run, b + off, serial, w1, block_size - off);
            break;
        }
    }
    return true;
}

uint64_t sk_run_mimalloc_leaks(sk_run_t *run) {
    if (run == NULL || !run->prepared) return 0;
    leak_scan_t s = {.run = run, .threads = run->total_threads};
    uint64_t chunks = atomic_load(&run->next_chunk);
    s.tracked_end = (chunks > run->own_chunks_max ? run->own_chunks_max : chunks) << SK_OWN_CHUNK_BITS;
    for (uint32_t i = 0; i < run->nroles; i++)
        for (uint32_t j = 0; j < run->roles[i].cfg.threads; j++)
            if (run->roles[i].threads[j].local_serial >= s.local_end)
                s.local_end = run->roles[i].threads[j].local_serial + 1;
    /* Frees made by other threads wait in their pages' thread-free lists until collected. */
    mi_collect(true);
    sk_diag_leak_scan_begin(run);
    mi_heap_visit_blocks(mi_heap_main(), true, count_leak, &s);
    run->mimalloc_leaked_blocks = s.blocks;
    run->mimalloc_leaked_bytes = s.bytes;
    return s.blocks;
}

/* ---- timer ---- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

uint64_t sk_timer_overhead_ns(void) {
    enum { PAIRS = 255 };
    uint64_t d[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        uint64_t a = sk_now_ns();
        d[i] = sk_now_ns() - a;
    }
    qsort(d, PAIRS, sizeof d[0], cmp_u64);
    return d[PAIRS / 2];
}
