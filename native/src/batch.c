/* Native batches for tests and tools: allocation loops, pattern fill/verify, overlap evidence. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sk_batch.h"

#include <mimalloc.h>

static uint64_t now_ms(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void enter(sk_overlap_t *probe) {
    if (probe == NULL) return;
    int64_t now = atomic_fetch_add(&probe->inside, 1) + 1;
    int64_t seen = atomic_load(&probe->max_inside);
    while (now > seen && !atomic_compare_exchange_weak(&probe->max_inside, &seen, now)) {
    }
}

static void leave(sk_overlap_t *probe) {
    if (probe != NULL) atomic_fetch_sub(&probe->inside, 1);
}

bool sk_rendezvous(sk_overlap_t *probe, int64_t parties, int64_t timeout_ms) {
    enter(probe);
    atomic_fetch_add(&probe->arrived, 1);
    uint64_t deadline = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    bool all = false;
    for (;;) {
        if (atomic_load(&probe->arrived) >= parties) {
            all = true;
            break;
        }
        if (now_ms() >= deadline) break;
    }
    leave(probe);
    return all;
}

/* splitmix64: a cheap, well-mixed pattern source. */
static inline uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static void fill(unsigned char *p, size_t size, uint64_t seed) {
    uint64_t w = mix(seed ^ (uint64_t)(uintptr_t)p);
    size_t i = 0;
    for (; i + 8 <= size; i += 8) memcpy(p + i, &w, 8);
    for (; i < size; i++) p[i] = (unsigned char)(w >> (8 * (i & 7)));
}

static bool intact(const unsigned char *p, size_t size, uint64_t seed) {
    uint64_t w = mix(seed ^ (uint64_t)(uintptr_t)p);
    size_t i = 0;
    for (; i + 8 <= size; i += 8)
        if (memcmp(p + i, &w, 8) != 0) return false;
    for (; i < size; i++)
        if (p[i] != (unsigned char)(w >> (8 * (i & 7)))) return false;
    return true;
}

static void *alloc_one(size_t size, sk_kind_t kind, size_t alignment) {
    switch (kind) {
        case SK_KIND_CALLOC: {
            unsigned char *p = cc_calloc(1, size);
            if (p != NULL) {
                for (size_t i = 0; i < size; i++)
                    if (p[i] != 0) return NULL; /* unreachable unless calloc is broken; counted */
            }
            return p;
        }
        case SK_KIND_ALIGNED: return cc_alloc_aligned(size, alignment);
        case SK_KIND_NODE: return cc_alloc_node(size);
        case SK_KIND_PLAIN:
        default: return cc_alloc(size);
    }
}

size_t sk_batch_alloc(void **out, size_t n, const size_t *sizes, size_t size, sk_kind_t kind,
                      size_t alignment, uint64_t seed, sk_overlap_t *probe) {
    enter(probe);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        size_t sz = sizes != NULL ? sizes[i] : size;
        unsigned char *p = alloc_one(sz, kind, alignment);
        if (p != NULL) {
            fill(p, sz, seed);
            ok++;
        }
        out[i] = p;
    }
    leave(probe);
    return ok;
}

size_t sk_batch_free(void **blocks, size_t n, const size_t *sizes, size_t size, bool unsized,
                     uint64_t seed, sk_overlap_t *probe) {
    enter(probe);
    size_t damaged = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = blocks[i];
        if (p == NULL) continue;
        size_t sz = sizes != NULL ? sizes[i] : size;
        if (!intact(p, sz, seed)) damaged++;
        if (unsized)
            cc_free_unsized(p);
        else
            cc_free(p, sz);
        blocks[i] = NULL;
    }
    leave(probe);
    return damaged;
}

size_t sk_alloc_free_loop(size_t iterations, size_t batch, size_t size, sk_kind_t kind,
                          size_t alignment, uint64_t seed, sk_overlap_t *probe) {
    enum { STACK_BATCH = 1024 };
    void *stack_slots[STACK_BATCH];
    /* Larger batches get their slot array from libc (not the glue: it must not appear in the
     * glue's statistics), so the caller's `batch` is honoured rather than silently cut. */
    void **slots = stack_slots;
    if (batch > STACK_BATCH) {
        slots = batch <= SIZE_MAX / sizeof *slots ? malloc(batch * sizeof *slots) : NULL;
        if (slots == NULL) /* no allocation of the loop can happen: all of them failed */
            return iterations > SIZE_MAX / batch ? SIZE_MAX : iterations * batch;
    }
    enter(probe);
    size_t bad = 0;
    for (size_t it = 0; it < iterations; it++) {
        bad += batch - sk_batch_alloc(slots, batch, NULL, size, kind, alignment, seed + it, NULL);
        bad += sk_batch_free(slots, batch, NULL, size, (it & 1) != 0, seed + it, NULL);
    }
    leave(probe);
    if (slots != stack_slots) free(slots);
    return bad;
}

typedef struct live_count {
    uint64_t blocks, bytes;
} live_count_t;

static bool count_live(const mi_heap_t *heap, const mi_heap_area_t *area, void *block, size_t block_size, void *arg) {
    (void)heap;
    (void)area;
    live_count_t *c = arg;
    if (block != NULL) {
        c->blocks++;
        c->bytes += block_size;
    }
    return true;
}

uint64_t sk_mimalloc_live_blocks(uint64_t *bytes) {
    live_count_t c = {0, 0};
    mi_collect(true);
    mi_heap_visit_blocks(mi_heap_main(), true, count_live, &c);
    if (bytes != NULL) *bytes = c.bytes;
    return c.blocks;
}
