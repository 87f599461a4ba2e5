/* Engine blocks: size draws, allocation with header and fill pattern, verification at free, and
 * the out-of-line ownership table that makes double hand-offs detectable without touching memory
 * that may already be freed (design in sk_engine.h). */
#include "engine_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SK_GOLDEN 0x9E3779B97F4A7C15ull
#define SK_FULL_FILL_MAX 4096u /* above this, only head and tail of the body are patterned */
#define SK_HEAD_FILL 256u
#define SK_TAIL_FILL 64u

uint64_t sk_draw_size(const sk_role_t *r, uint64_t *rng) {
    const sk_role_config_t *c = &r->cfg;
    uint64_t size;
    switch (c->size_kind) {
        case SK_SIZE_UNIFORM: {
            uint64_t lo = c->size_values[0], span = c->size_values[1] - lo + 1;
            uint64_t x = sk_rand(rng);
            /* multiply-shift instead of a 64-bit division when the span fits in 32 bits */
            size = lo + (span <= UINT32_MAX ? ((x >> 32) * span) >> 32 : x % span);
            break;
        }
        case SK_SIZE_CHOICE: {
            uint32_t i = 0;
            if (r->total_weight > 0) {
                double u = (double)(sk_rand(rng) >> 11) * 0x1p-53 * r->total_weight;
                while (i + 1 < c->size_count && u >= r->cum_weights[i]) i++;
            } else {
                i = (uint32_t)(((sk_rand(rng) >> 32) * c->size_count) >> 32);
            }
            size = c->size_values[i];
            break;
        }
        case SK_SIZE_LOG_UNIFORM: {
            /* every power-of-two class in [lo, hi] equally likely, uniform inside the class */
            uint64_t lo = c->size_values[0], hi = c->size_values[1];
            unsigned first = 63u - (unsigned)__builtin_clzll(lo), last = 63u - (unsigned)__builtin_clzll(hi);
            unsigned k = first + (unsigned)(sk_rand(rng) % (last - first + 1));
            uint64_t a = UINT64_C(1) << k, b = (a << 1) - 1;
            if (a < lo) a = lo;
            if (b > hi) b = hi;
            size = a + sk_rand(rng) % (b - a + 1);
            break;
        }
        case SK_SIZE_FIXED:
        default: size = c->size_values[0]; break;
    }
    return size;
}

/* ---- pattern ---- */

static inline uint64_t pattern_word(uint64_t w0, uint64_t word_index) {
    return w0 + word_index * SK_GOLDEN;
}

/* Byte `off` of the block is byte (off % 8) of pattern word off / 8 in memory order, so whole
 * words and partial edge words agree on any endianness; each word is computed once.
 * put_part/part_is: bytes [lo, hi) of pattern word j (inside it), the partial words at a range's
 * ends. */
static inline void put_part(unsigned char *p, uint64_t j, uint64_t lo, uint64_t hi, uint64_t w) {
    memcpy(p + lo, (const unsigned char *)&w + (lo - j * 8), hi - lo);
}

static inline bool part_is(const unsigned char *p, uint64_t j, uint64_t lo, uint64_t hi, uint64_t w) {
    return memcmp(p + lo, (const unsigned char *)&w + (lo - j * 8), hi - lo) == 0;
}

/* Write [a, b) of the pattern: a partial first word, whole words (the common case, one store
 * each), a partial last word. */
static void fill_range(unsigned char *p, uint64_t a, uint64_t b, uint64_t w0) {
    uint64_t j = a >> 3;
    if (a & 7) {
        put_part(p, j, a, j * 8 + 8 < b ? j * 8 + 8 : b, pattern_word(w0, j));
        j++;
    }
    uint64_t w = pattern_word(w0, j);
    uint64_t off = j * 8, whole_end = b & ~(uint64_t)7;
    for (; off < whole_end; off += 8, w += SK_GOLDEN) memcpy(p + off, &w, 8);
    if (off < b) put_part(p, off >> 3, off, b, w);
}

static bool check_range(const unsigned char *p, uint64_t a, uint64_t b, uint64_t w0) {
    uint64_t j = a >> 3;
    if (a & 7) {
        if (!part_is(p, j, a, j * 8 + 8 < b ? j * 8 + 8 : b, pattern_word(w0, j))) return false;
        j++;
    }
    uint64_t w = pattern_word(w0, j);
    uint64_t off = j * 8, whole_end = b & ~(uint64_t)7;
    for (; off < whole_end; off += 8, w += SK_GOLDEN) {
        uint64_t got;
        memcpy(&got, p + off, 8);
        if (got != w) return false;
    }
    return off >= b || part_is(p, off >> 3, off, b, w);
}

static bool zero_range(const unsigned char *p, uint64_t a, uint64_t b) {
    for (uint64_t i = a; i < b; i++)
        if (p[i] != 0) return false;
    return true;
}

/* The body regions that carry the pattern, from `start`: [start, size) for small blocks, else
 * [start, 16+256) and [size-64, size). Returns how many ranges (1 or 2). */
static int body_ranges(uint64_t size, uint64_t start, uint64_t r[2][2]) {
    if (size <= SK_FULL_FILL_MAX) {
        r[0][0] = start;
        r[0][1] = size;
        return 1;
    }
    r[0][0] = start;
    r[0][1] = SK_MIN_BLOCK + SK_HEAD_FILL;
    r[1][0] = size - SK_TAIL_FILL;
    r[1][1] = size;
    return 2;
}

static inline uint64_t identity_word(const sk_run_t *run, uint64_t serial) {
    return sk_identity(run->identity_key, serial);
}

/* The bytes of a block the engine writes and verifies: the request, at least the 16-byte header,
 * never beyond what the glue says is usable (a short block is reported, not overrun). */
static inline uint64_t written_extent(const sk_entry_t *e) {
    uint64_t want = e->size < SK_MIN_BLOCK ? SK_MIN_BLOCK : e->size;
    uint64_t usable = sk_entry_usable(e);
    return want < usable ? want : usable;
}

uint64_t sk_block_extent(const sk_entry_t *e) { return written_extent(e); }

/* ---- ownership table ---- */

static _Atomic uint64_t *own_word(sk_run_t *run, uint64_t serial, unsigned *shift) {
    uint64_t chunk = serial >> SK_OWN_CHUNK_BITS;
    if (chunk >= SK_OWN_MAX_CHUNKS) return NULL;
    _Atomic uint64_t *words = atomic_load_explicit(&run->own_dir[chunk], memory_order_acquire);
    if (words == NULL) return NULL;
    uint64_t idx = serial & ((UINT64_C(1) << SK_OWN_CHUNK_BITS) - 1);
    *shift = (unsigned)(idx & 31) * 2;
    return &words[idx >> 5];
}

unsigned sk_own_state(sk_run_t *run, uint64_t serial) {
    if (serial & SK_SERIAL_UNTRACKED) return SK_OWN_LIVE;
    unsigned shift = 0;
    _Atomic uint64_t *w = own_word(run, serial, &shift);
    return w == NULL ? SK_OWN_FREE : sk_own_state_of((unsigned)(atomic_load_explicit(w, memory_order_acquire) >> shift) & 3u);
}

bool sk_own_transition(sk_run_t *run, uint64_t serial, unsigned from_mask, unsigned to) {
    if (serial & SK_SERIAL_UNTRACKED) return true; /* never shared: owned by construction */
    unsigned shift = 0;
    _Atomic uint64_t *w = own_word(run, serial, &shift);
    if (w == NULL) return false;
    uint64_t cur = atomic_load_explicit(w, memory_order_acquire);
    for (;;) {
        unsigned st = sk_own_state_of((unsigned)(cur >> shift) & 3u);
        if (st > SK_OWN_RETIRED || ((from_mask >> st) & 1u) == 0) return false;
        uint64_t next = (cur & ~(UINT64_C(3) << shift)) | ((uint64_t)sk_own_raw(to) << shift);
        if (atomic_compare_exchange_weak_explicit(w, &cur, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return true;
    }
}

/* A fresh range of 65536 tracked serials for thread t; false when the run's table is full. */
static bool claim_serials(sk_run_t *run, sk_thread_t *t) {
    uint64_t chunk = atomic_fetch_add_explicit(&run->next_chunk, 1, memory_order_relaxed);
    if (chunk >= run->own_chunks_max) return false;
    _Atomic uint64_t *words = calloc(SK_OWN_WORDS, sizeof(uint64_t));
    if (words == NULL) return false;
    atomic_store_explicit(&run->own_dir[chunk], words, memory_order_release);
    t->serial_next = chunk << SK_OWN_CHUNK_BITS;
    t->serial_end = t->serial_next + (UINT64_C(1) << SK_OWN_CHUNK_BITS);
    sk_diag_chunk_claimed(run, t, chunk);
    return true;
}

void sk_own_fini(sk_run_t *run) {
    if (run->own_dir == NULL) return;
    uint64_t used = atomic_load(&run->next_chunk);
    if (used > SK_OWN_MAX_CHUNKS) used = SK_OWN_MAX_CHUNKS;
    for (uint64_t c = 0; c < used; c++) free((void *)atomic_load(&run->own_dir[c]));
    free((void *)run->own_dir);
    run->own_dir = NULL;
}

/* ---- allocation and free ---- */

static void *alloc_kind(int32_t kind, uint64_t count, uint64_t size, uint64_t alignment) {
    switch (kind) {
        case SK_KIND_CALLOC: return cc_calloc(count, size);
        case SK_KIND_ALIGNED: return cc_alloc_aligned(size, alignment);
        case SK_KIND_NODE: return cc_alloc_node(size);
        case SK_KIND_PLAIN:
        default: return cc_alloc(size);
    }
}

/* What the glue promises for a block of `size` bytes of this kind (native/include/cc_alloc.h). */
static uint64_t promised_alignment(int32_t kind, uint64_t alignment) {
    switch (kind) {
        case SK_KIND_ALIGNED: return alignment;
        case SK_KIND_NODE: return CC_CACHE_LINE_SIZE;
        default: return _Alignof(max_align_t); /* plain and calloc, whatever the size */
    }
}

static uint64_t promised_usable(int32_t kind, uint64_t size) {
    if (kind != SK_KIND_NODE) return size;
    return (size + CC_CACHE_LINE_SIZE - 1) & ~(uint64_t)(CC_CACHE_LINE_SIZE - 1);
}

enum { SK_ZERO_SAMPLES = 8 }; /* random words checked beyond the fully checked head and tail */

/* Whether cc_calloc memory [0, size) is zero: every byte up to SK_FULL_FILL_MAX; beyond, the
 * head and the tail in full and a few words at random offsets in between. */
static bool calloc_zeroed(const unsigned char *p, uint64_t size, uint64_t *rng) {
    if (size <= SK_FULL_FILL_MAX) return zero_range(p, 0, size);
    if (!zero_range(p, 0, SK_MIN_BLOCK + SK_HEAD_FILL) || !zero_range(p, size - SK_TAIL_FILL, size)) return false;
    for (int i = 0; i < SK_ZERO_SAMPLES; i++) {
        uint64_t off = sk_rand(rng) % (size - 8);
        if (!zero_range(p, off, off + 8)) return false;
    }
    return true;
}

/* Check a block the glue just returned against the contract of its kind. */
static void check_contract(sk_thread_t *t, int32_t kind, uint64_t alignment, uint64_t size,
                           const unsigned char *p, uint64_t usable) {
    sk_checks_t *c = &t->checks;
    if (((uintptr_t)p & (promised_alignment(kind, alignment) - 1)) != 0) c->misaligned++;
    if (usable < promised_usable(kind, size)) c->short_blocks++;
    if (kind == SK_KIND_CALLOC && !calloc_zeroed(p, size < usable ? size : usable, &t->sample_rng))
        c->calloc_dirty++;
}

/* A NULL from the glue: the contract says errno = ENOMEM (nothing else asks for NULL here). */
static void account_null(sk_thread_t *t, int err) {
    t->failed_allocs++;
    t->checks.enomem_nulls++;
    if (err != ENOMEM) t->checks.bad_errno++;
}

static void write_block(const sk_run_t *run, const sk_entry_t *e) {
    unsigned char *p = e->ptr;
    uint64_t n = written_extent(e);
    uint64_t w0 = identity_word(run, e->serial);
    if (n < SK_MIN_BLOCK) { /* no room for a header: pattern only */
        fill_range(p, 0, n, w0);
        return;
    }
    memcpy(p, &w0, 8);
    if (SK_UNLIKELY(run->checks_off & SK_OFF_PATTERN)) return; /* identity word only */
    uint64_t w1 = e->size | (SK_TAG_LIVE << 48);
    memcpy(p + 8, &w1, 8);
    uint64_t ranges[2][2];
    int nr = body_ranges(n, SK_MIN_BLOCK, ranges);
    for (int i = 0; i < nr; i++) fill_range(p, ranges[i][0], ranges[i][1], w0);
}

bool sk_block_new(sk_run_t *run, sk_role_t *r, sk_thread_t *t, bool tracked, bool timed,
                  uint64_t size, sk_entry_t *out, bool *exhausted) {
    *exhausted = false;
    uint64_t serial;
    if (SK_UNLIKELY(run->checks_off & SK_OFF_OWNERSHIP)) tracked = false; /* owned by trust */
    if (tracked) {
        if (t->serial_next == t->serial_end && !claim_serials(run, t)) {
            *exhausted = true;
            return false;
        }
        serial = t->serial_next++;
        t->tracked++;
    } else {
        serial = SK_SERIAL_UNTRACKED | ((uint64_t)t->global_index << 40) | t->local_serial++;
    }
    uint64_t count = 1;
    if (r->cfg.kind == SK_KIND_CALLOC && r->cfg.calloc_count_max > 1)
        count = 1 + sk_rand(&t->sample_rng) % r->cfg.calloc_count_max;
    errno = 0;
    uint64_t t0 = timed ? sk_now_ns() : 0, t1 = 0;
    unsigned char *p = alloc_kind(r->cfg.kind, count, size, r->cfg.alignment);
    if (timed) {
        t1 = sk_now_ns();
        sk_hist_record(&t->hist[SK_OP_ALLOC], t1 - t0);
    }
    if (p == NULL) {
        account_null(t, errno);
        return false;
    }
    size *= count;
    bool contract = (run->checks_off & SK_OFF_CONTRACT) == 0;
    uint64_t usable = contract ? cc_usable_size(p) : size; /* unchecked: the request is trusted */
    t->allocs++;
    t->bytes_allocated += size;
    t->checks.allocs++;
    t->checks.usable_allocated += usable;
    if (contract) check_contract(t, r->cfg.kind, r->cfg.alignment, size, p, usable);

    *out = (sk_entry_t){.ptr = p, .serial = serial, .size = size, .epoch = 0, .t_ns = 0,
                        .born_ns = tracked && timed ? t1 : t->diag_units | SK_BORN_COARSE, .usable = usable};
    write_block(run, out);
    return true;
}

void sk_block_rewrite(const sk_run_t *run, const sk_entry_t *e) {
    write_block(run, e);
    if (e->t_ns != 0) sk_block_stamp_retired(e);
}

void sk_block_stamp_retired(const sk_entry_t *e) {
    unsigned char *p = e->ptr;
    uint64_t n = written_extent(e);
    if (n < SK_MIN_BLOCK) return; /* no header to stamp (a short block, already reported) */
    uint64_t w1 = e->size | (SK_TAG_RETIRED << 48);
    memcpy(p + 8, &w1, 8);
    if (n >= 32) {
        memcpy(p + 16, &e->epoch, 8);
        memcpy(p + 24, &e->t_ns, 8);
    }
}

static bool verify(const sk_run_t *run, const sk_entry_t *e) {
    const unsigned char *p = e->ptr;
    bool retired = e->t_ns != 0;
    uint64_t n = written_extent(e);
    uint64_t w0 = identity_word(run, e->serial), got0, got1;
    if (n < SK_MIN_BLOCK) return check_range(p, 0, n, w0);
    memcpy(&got0, p, 8);
    memcpy(&got1, p + 8, 8);
    if (got0 != w0) return false;
    if (SK_UNLIKELY(run->checks_off & SK_OFF_PATTERN)) return true; /* identity word only */
    if (got1 != (e->size | ((retired ? SK_TAG_RETIRED : SK_TAG_LIVE) << 48))) return false;
    uint64_t start = SK_MIN_BLOCK;
    if (retired && n >= 32) {
        uint64_t ep, tn;
        memcpy(&ep, p + 16, 8);
        memcpy(&tn, p + 24, 8);
        if (ep != e->epoch || tn != e->t_ns) return false;
        start = 32;
    }
    uint64_t ranges[2][2];
    int nr = body_ranges(n, start, ranges);
    for (int i = 0; i < nr; i++)
        if (!check_range(p, ranges[i][0], ranges[i][1], w0)) return false;
    return true;
}

/* The corruption hook: flip the block's last byte (its tail pattern, or its header for 16-byte
 * blocks), as an overrun by one would. */
static void maybe_corrupt(sk_run_t *run, const sk_entry_t *e, int32_t role) {
    if (SK_UNLIKELY(sk_hook_fires(run, 0, role))) ((unsigned char *)e->ptr)[written_extent(e) - 1] ^= 0x5A;
}

/* Expected bytes, for the corruption report: the same layout verify() checks, byte by byte. */
bool sk_block_expected(const sk_run_t *run, const sk_entry_t *e, uint64_t off, unsigned char *out) {
    uint64_t n = written_extent(e);
    if (off >= n) return false;
    uint64_t w0 = identity_word(run, e->serial), word;
    bool retired = e->t_ns != 0;
    uint64_t start = SK_MIN_BLOCK;
    if (n < SK_MIN_BLOCK) {
        word = pattern_word(w0, off >> 3);
    } else if (off < 8) {
        word = w0;
    } else if (off < 16) {
        word = e->size | ((retired ? SK_TAG_RETIRED : SK_TAG_LIVE) << 48);
    } else if (retired && n >= 32 && off < 32) {
        word = off < 24 ? e->epoch : e->t_ns;
    } else {
        if (retired && n >= 32) start = 32;
        uint64_t ranges[2][2];
        int nr = body_ranges(n, start, ranges);
        bool inside = false;
        for (int i = 0; i < nr; i++) inside |= off >= ranges[i][0] && off < ranges[i][1];
        if (!inside) return false;
        word = pattern_word(w0, off >> 3);
    }
    *out = ((const unsigned char *)&word)[off & 7];
    return true;
}

/* The leak ledger's stamp (layout in sk_engine.h): written after verification, right before the
 * block goes to the glue's free, so a block the glue drops still says who gave it and when. */
static inline void stamp_freed(const sk_run_t *run, const sk_entry_t *e, uint32_t who, uint64_t units) {
    if (SK_UNLIKELY(run->checks_off & SK_OFF_LEAK_STAMPS)) return;
    unsigned char *p = e->ptr;
    uint64_t n = written_extent(e);
    if (n < SK_MIN_BLOCK) return;
    bool retired = e->t_ns != 0;
    uint64_t w1 = e->size | ((retired ? SK_TAG_FREED_RETIRED : SK_TAG_FREED) << 48);
    if (n < 32 && e->size < 256) { /* no body words: the stamp goes into word 1 itself */
        uint64_t ms = (units >> 10) & 0xFFFFF;
        w1 = e->size | (uint64_t)who << 8 | ms << 28 | ((retired ? SK_TAG_FREED_SMALL_RETIRED : SK_TAG_FREED_SMALL) << 48);
    }
    memcpy(p + 8, &w1, 8);
    uint64_t at = retired && n >= 48 ? 32 : 16;
    if (n < at + 16) return;
    uint64_t a = ((uint64_t)who << SK_USABLE_BITS) | units;
    uint64_t b = ((uint64_t)sk_entry_retirer(e) << SK_USABLE_BITS) | sk_entry_born_units(run->t0, e);
    memcpy(p + at, &a, 8);
    memcpy(p + at + 8, &b, 8);
}

/* `role` aims the test hooks (-1: the drain); `who` and `units` (the time) go into the free stamp. */
static bool verify_and_free(sk_run_t *run, const sk_entry_t *e, bool unsized, sk_hist_t *h, sk_checks_t *c,
                            int32_t role, uint32_t who, uint64_t units) {
    c->frees++;
    c->usable_freed += sk_entry_usable(e);
    maybe_corrupt(run, e, role);
    bool ok = verify(run, e);
    if (SK_UNLIKELY(!ok)) sk_diag_damaged(run, e, who);
    stamp_freed(run, e, who, units);
    if (SK_UNLIKELY(sk_hook_fires(run, 2, role))) return ok; /* the leak hook: dropped, not freed */
    uint64_t t0 = h != NULL ? sk_now_ns() : 0;
    /* A damaged header may lie about the size: free unsized then, never with a wrong size hint. */
    if (unsized || !ok)
        cc_free_unsized(e->ptr);
    else
        cc_free(e->ptr, e->size);
    if (h != NULL) sk_hist_record(h, sk_now_ns() - t0);
    return ok;
}

bool sk_block_free(sk_run_t *run, const sk_role_t *r, sk_thread_t *t, const sk_entry_t *e, bool timed) {
    if (e->born_ns != 0 && (e->born_ns & SK_BORN_COARSE) == 0) {
        uint64_t now = sk_now_ns();
        sk_hist_record(&t->hist[SK_OP_LIFETIME], now > e->born_ns ? now - e->born_ns : 0);
    }
    bool ok = verify_and_free(run, e, r->cfg.free_unsized != 0, timed ? &t->hist[SK_OP_FREE] : NULL, &t->checks,
                              (int32_t)t->role, sk_who_thread(t), t->diag_units);
    if (!ok) t->canary_failures++;
    t->frees++;
    t->bytes_freed += e->size;
    return ok;
}

bool sk_block_free_raw(sk_run_t *run, const sk_entry_t *e, bool unsized, uint32_t who) {
    return verify_and_free(run, e, unsized, NULL, &run->drain_checks, -1, who, sk_stamp_units(run->t0, sk_now_ns()));
}
