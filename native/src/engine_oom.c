/* The OOM role: under a memory bound, allocate until the glue returns NULL, record what was
 * obtained, free part of it and prove allocation works again — without aborting or crashing.
 *
 * One bound per run, shared by every thread of every oom role: the first oom thread to arrive
 * sets it up (the others wait for it), every oom thread allocates against it, and it is lifted
 * once, after the last oom thread finished. Threads that hit NULL wait for the others to hit it
 * too before anyone frees, so "what was held at the first NULL" is the run's whole holding.
 *
 * Mechanisms:
 *   - SK_OOM_MIMALLOC_ARENA (default): an exclusive mimalloc arena of exactly `limit` bytes
 *     (mi_manage_os_memory_ex on memory mapped for it, never used by anything else), a heap that
 *     allocates only there (mi_heap_new_in_arena), made the default of each oom thread while it
 *     runs (mi_theap_set_default). The glue's unchanged mi_malloc/mi_calloc/mi_malloc_aligned
 *     calls then return NULL when that arena is full: the bound is the arena, to the page,
 *     whatever else the process has reserved. Its floor is mimalloc's smallest arena
 *     (sk_oom_min_limit, 32 MiB). The arena stays with mimalloc (it cannot be given back); a
 *     later run in the same process with the same limit reuses it.
 *   - SK_OOM_RLIMIT_AS: setrlimit(RLIMIT_AS) to the address space in use plus `limit`, restored
 *     when the last oom thread ends. It bounds every allocator in the process and counts address
 *     space mimalloc reserved but did not use, so it is looser; kept for comparison.
 * A safety cap (4 x limit + 2 GiB held without a NULL) stops the role if a bound did not take,
 * so a broken bound cannot exhaust the machine; the result then says so. */
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#  define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE: not in POSIX.1-2008 */
#endif
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#  define _DARWIN_C_SOURCE /* likewise: <sys/mman.h> hides MAP_ANON once _POSIX_C_SOURCE is set */
#endif
#include "engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <mimalloc.h>
#if defined(__unix__) || defined(__APPLE__)
#  include <sys/mman.h>
#  include <sys/resource.h>
#  include <unistd.h>
#  define SK_HAVE_POSIX 1
#  if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#    define MAP_ANONYMOUS MAP_ANON
#  endif
#  ifndef MAP_NORESERVE
#    define MAP_NORESERVE 0
#  endif
#endif

enum { OOM_SETUP = 0, OOM_WAIT_READY, OOM_FILL, OOM_WAIT_FULL, OOM_FREE, OOM_WAIT_FREED, OOM_RETRY, OOM_DONE };
enum { OOM_PROBES = 8 }; /* allocations tried after the first NULL, to count NULL returns */
enum { BOUND_NONE = 0, BOUND_SETTING = 1, BOUND_IN_PLACE = 2, BOUND_FAILED = 3 };

uint64_t sk_oom_min_limit(void) { return (uint64_t)mi_arena_min_size(); }

/* ---- the arena mechanism ---- */

#ifdef SK_HAVE_POSIX
/* The process's bound arena, reused by later runs with the same limit (an arena cannot be
 * released, and runs in one process are sequential: the driver joins every thread). */
static struct {
    uint64_t size;
    mi_heap_t *heap;
} arena_cache;

static mi_heap_t *bound_heap(uint64_t limit) {
    if (arena_cache.heap != NULL && arena_cache.size == limit) return arena_cache.heap;
    size_t align = mi_arena_min_alignment();
    if (limit < mi_arena_min_size() || align == 0) return NULL;
    /* Reserved, not committed: the kernel backs only the pages mimalloc touches. */
    unsigned char *region = mmap(NULL, limit + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED) return NULL;
    unsigned char *start = (unsigned char *)(((uintptr_t)region + align - 1) & ~(uintptr_t)(align - 1));
    mi_arena_id_t id;
    if (!mi_manage_os_memory_ex(start, (size_t)limit, true, false, true, -1, true, &id)) {
        munmap(region, limit + align);
        return NULL;
    }
    mi_heap_t *heap = mi_heap_new_in_arena(id);
    if (heap == NULL) return NULL;
    arena_cache.size = limit;
    arena_cache.heap = heap;
    return heap;
}

/* Address space in use now, from /proc/self/statm (Linux); 0 if unknown. */
static uint64_t address_space_in_use(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return 0;
    unsigned long long pages = 0;
    int ok = fscanf(f, "%llu", &pages);
    fclose(f);
    if (ok != 1) return 0;
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}
#endif

/* Set the run's bound up (the first oom thread does it). */
static bool set_bound(sk_run_t *run, const sk_role_config_t *c) {
#ifdef SK_HAVE_POSIX
    if (c->oom_mechanism == SK_OOM_MIMALLOC_ARENA) {
        run->oom_heap = bound_heap(c->memory_limit_bytes);
        return run->oom_heap != NULL;
    }
    if (c->oom_mechanism == SK_OOM_RLIMIT_AS) {
        struct rlimit old;
        uint64_t in_use = address_space_in_use();
        if (getrlimit(RLIMIT_AS, &old) != 0 || in_use == 0) return false;
        struct rlimit lim = old;
        lim.rlim_cur = (rlim_t)(in_use + c->memory_limit_bytes);
        if (old.rlim_max != RLIM_INFINITY && lim.rlim_cur > old.rlim_max) lim.rlim_cur = old.rlim_max;
        if (setrlimit(RLIMIT_AS, &lim) != 0) return false;
        run->oom_saved_rlimit = (uint64_t)old.rlim_cur;
        return true;
    }
#else
    (void)run, (void)c;
#endif
    return false;
}

/* The last oom thread lifts the bound (the arena needs nothing: only oom threads used it). */
static void lift_bound(sk_run_t *run, const sk_role_config_t *c) {
#ifdef SK_HAVE_POSIX
    if (c->oom_mechanism == SK_OOM_RLIMIT_AS) {
        struct rlimit lim;
        if (getrlimit(RLIMIT_AS, &lim) == 0) {
            lim.rlim_cur = (rlim_t)run->oom_saved_rlimit;
            setrlimit(RLIMIT_AS, &lim);
        }
    }
#else
    (void)run, (void)c;
#endif
}

/* Wait for the run's bound to be in place (setting it up if first). False: it could not be set
 * (or the run was aborted while waiting). */
static bool join_bound(sk_run_t *run, sk_thread_t *t, const sk_role_config_t *c) {
    int expected = BOUND_NONE;
    if (atomic_compare_exchange_strong(&run->oom_state, &expected, BOUND_SETTING)) {
        atomic_store(&run->oom_state, set_bound(run, c) ? BOUND_IN_PLACE : BOUND_FAILED);
    }
    uint32_t attempt = 0;
    int state;
    while ((state = atomic_load(&run->oom_state)) == BOUND_SETTING) {
        if (atomic_load_explicit(&run->abort_now, memory_order_relaxed)) return false;
        sk_backoff(attempt++);
    }
    if (state != BOUND_IN_PLACE) return false;
    if (c->oom_mechanism == SK_OOM_MIMALLOC_ARENA) {
        /* The thread's heap metadata lives in the arena too: made here, before anyone fills it
         * (sk_step_oom waits for every oom thread to get this far). */
        mi_theap_t *theap = mi_heap_theap((mi_heap_t *)run->oom_heap);
        if (theap == NULL) return false;
        t->oom_prev_theap = mi_theap_set_default(theap);
    }
    t->oom_joined = true;
    return true;
}

/* This thread leaves the bound; the last one lifts it. */
static void leave_bound(sk_run_t *run, sk_thread_t *t, const sk_role_config_t *c) {
    if (t->oom_joined) {
        t->oom_joined = false;
        if (c->oom_mechanism == SK_OOM_MIMALLOC_ARENA) mi_theap_set_default((mi_theap_t *)t->oom_prev_theap);
    }
    if (atomic_fetch_add(&run->oom_finished, 1) + 1 == run->oom_threads &&
        atomic_load(&run->oom_state) == BOUND_IN_PLACE)
        lift_bound(run, c);
}

/* ---- blocks ---- */

/* What an oom role remembers of a block it holds: 16 bytes, not a full sk_entry_t (56), since
 * it may hold its whole bound in 16-byte blocks and the worker's RSS is checked against the
 * bound. The rest is derived: the serial from the thread (untracked serials are the thread's
 * index and a local count), the usable size from the glue when the block is freed. */
struct sk_oom_entry {
    void *ptr;
    uint32_t size;      /* blocks are at most 1 GiB (the schema's bound) */
    uint32_t local_lo;  /* low 32 bits of the block's local serial */
};

static void pack(struct sk_oom_entry *out, const sk_entry_t *e) {
    out->ptr = e->ptr;
    out->size = (uint32_t)e->size;
    out->local_lo = (uint32_t)e->serial;
}

static sk_entry_t unpack(const sk_thread_t *t, const struct sk_oom_entry *o) {
    /* The thread's local serials stay below 2^32 in practice (sk_step_oom stops well before). */
    uint64_t serial = SK_SERIAL_UNTRACKED | ((uint64_t)t->global_index << 40) | o->local_lo;
    return (sk_entry_t){.ptr = o->ptr, .serial = serial, .size = o->size, .usable = cc_usable_size(o->ptr)};
}

/* The engine's bookkeeping goes through the C library's names, which mimalloc's static library
 * answers inside ours: growing the list under the arena bound would spend the bound itself, so
 * it is grown from the thread's own heap. */
static void *grow_outside_bound(sk_thread_t *t, void *p, size_t size) {
    mi_theap_t *bound = t->oom_joined && t->oom_prev_theap != NULL ? mi_theap_set_default((mi_theap_t *)t->oom_prev_theap) : NULL;
    void *grown = realloc(p, size);
    if (bound != NULL) mi_theap_set_default(bound);
    return grown;
}

/* The ledger grows with what the role obtains, so it is capped: at SK_OOM_MAX_LEDGER entries
 * (stresskit refuses at validation a limit that this many blocks of the role's smallest size
 * cannot reach). A full ledger ends the filling like the safety cap does. */
static bool keep(sk_thread_t *t, const sk_entry_t *e) {
    if (t->oom_n == t->oom_cap) {
        if (t->oom_cap >= SK_OOM_MAX_LEDGER) return false;
        uint64_t cap = t->oom_cap ? t->oom_cap * 2 : 4096;
        if (cap > SK_OOM_MAX_LEDGER) cap = SK_OOM_MAX_LEDGER;
        struct sk_oom_entry *grown = grow_outside_bound(t, t->oom_blocks, cap * sizeof *grown);
        if (grown == NULL) return false;
        t->oom_blocks = grown;
        t->oom_cap = cap;
    }
    pack(&t->oom_blocks[t->oom_n++], e);
    return true;
}

/* Allocate one block for the role, keeping it. Returns false on NULL (counted by the caller). */
static bool take_one(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t size, bool *stored) {
    sk_entry_t e;
    bool exhausted;
    *stored = true;
    t->ops++;
    if (!sk_block_new(run, r, t, false, sk_should_time(run, t), size, &e, &exhausted)) return false;
    if (!keep(t, &e)) {
        /* No room to remember it: give it back at once so nothing leaks, and stop filling. */
        sk_block_free(run, r, t, &e, false);
        *stored = false;
        return true;
    }
    t->oom_obtained_bytes += e.usable;
    uint64_t held = atomic_fetch_add_explicit(&run->oom_held, e.usable, memory_order_relaxed) + e.usable;
    sk_atomic_max_u64(&run->oom_held_peak, held);
    return true;
}

static void free_range(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to; i++) {
        sk_entry_t e = unpack(t, &t->oom_blocks[i]);
        atomic_fetch_sub_explicit(&run->oom_held, e.usable, memory_order_relaxed);
        sk_block_free(run, r, t, &e, sk_should_time(run, t));
    }
}

/* The first NULL of the run fixes what the bound let all oom threads hold together. */
static void note_null(sk_run_t *run) {
    uint64_t none = 0;
    atomic_compare_exchange_strong(&run->oom_held_at_null, &none, atomic_load(&run->oom_held));
}

/* Done (or aborted): give everything back under the bound, then leave it. */
static int32_t finish(sk_run_t *run, sk_role_t *r, sk_thread_t *t) {
    free_range(run, r, t, 0, t->oom_n);
    t->oom_n = 0;
    leave_bound(run, t, &r->cfg);
    if (t->oom_phase < OOM_FREE) atomic_fetch_add(&run->oom_freed, 1); /* nobody waits for it */
    t->oom_phase = OOM_DONE;
    sk_thread_finish(run, r, t);
    return 1;
}

/* Wait until `count` reaches the run's oom threads: 1 when it did, 0 when the chunk's deadline
 * came first (call again), -1 when the run was aborted. */
static int32_t wait_for_all(sk_run_t *run, sk_thread_t *t, _Atomic uint64_t *count, uint64_t deadline) {
    uint32_t attempt = 0;
    while (atomic_load(count) < run->oom_threads) {
        sk_watch_wait(t, SK_TS_OOM_BARRIER, 0);
        if (atomic_load_explicit(&run->abort_now, memory_order_relaxed)) return -1;
        if (sk_now_ns() >= deadline) return 0;
        sk_backoff(attempt++);
    }
    sk_watch_progress(t);
    return 1;
}

int32_t sk_step_oom(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline) {
    const sk_role_config_t *c = &r->cfg;
    if (t->oom_phase == OOM_SETUP) {
        /* Reserve the bookkeeping before the bound applies: about two entries per smallest block
         * that fits in this thread's share of the limit, capped; it grows outside the bound. */
        uint64_t min_size = c->size_values[0];
        for (uint32_t i = 1; i < c->size_count; i++)
            if (c->size_values[i] < min_size) min_size = c->size_values[i];
        if (min_size < SK_MIN_BLOCK) min_size = SK_MIN_BLOCK;
        uint64_t want = c->memory_limit_bytes / min_size * 2 / (run->oom_threads ? run->oom_threads : 1) + 64;
        if (want > (UINT64_C(1) << 24)) want = UINT64_C(1) << 24;
        t->oom_blocks = malloc(want * sizeof *t->oom_blocks);
        t->oom_cap = t->oom_blocks != NULL ? want : 0;
        t->oom_limit_applied = join_bound(run, t, c) ? 1 : 0;
        t->measuring = true;
        t->t_start = sk_now_ns();
        atomic_fetch_add(&run->oom_ready, 1);
        if (!t->oom_limit_applied) {
            atomic_fetch_add(&run->oom_full, 1); /* nobody waits for it */
            return finish(run, r, t);
        }
        t->oom_phase = OOM_WAIT_READY;
    }
    if (t->oom_phase == OOM_WAIT_READY) {
        int32_t rc = wait_for_all(run, t, &run->oom_ready, deadline);
        if (rc <= 0) {
            if (rc == 0) return 0;
            atomic_fetch_add(&run->oom_full, 1);
            return finish(run, r, t);
        }
        t->oom_phase = OOM_FILL;
    }
    const uint64_t cap = c->memory_limit_bytes * 4 + (UINT64_C(2) << 30);
    for (uint64_t iter = 1; t->oom_phase == OOM_FILL; iter++) {
        if (atomic_load_explicit(&run->abort_now, memory_order_relaxed)) {
            atomic_fetch_add(&run->oom_full, 1); /* nobody waits for it */
            return finish(run, r, t);
        }
        if ((iter % 32) == 0 && sk_now_ns() >= deadline) return 0;
        uint64_t size = sk_draw_size(r, &t->rng);
        bool stored;
        if (!take_one(run, r, t, size, &stored)) {
            note_null(run);
            t->oom_null_returns++;
            t->oom_fail_size = size;
            t->oom_blocks_before_null = t->oom_n;
            /* At the bound (nobody frees before all are full): the same size again, then larger
             * ones, must all give NULL too, and none may abort. */
            for (int i = 0; i < OOM_PROBES; i++) {
                uint64_t s = i < OOM_PROBES / 2 ? size : size << (i - OOM_PROBES / 2 + 1);
                if (!take_one(run, r, t, s, &stored)) t->oom_null_returns++;
            }
            t->oom_phase = OOM_WAIT_FULL;
            atomic_fetch_add(&run->oom_full, 1);
        } else if (!stored || atomic_load_explicit(&run->oom_held, memory_order_relaxed) > cap ||
                   t->local_serial >= UINT32_MAX) {
            t->oom_hit_cap = 1;
            t->oom_fail_size = size;
            t->oom_blocks_before_null = t->oom_n;
            t->oom_phase = OOM_WAIT_FULL;
            atomic_fetch_add(&run->oom_full, 1);
        }
    }
    /* Nobody frees before every oom thread is full (the bound is shared: a thread that freed
     * early would let the others past what the bound held at the first NULL), and nobody retries
     * before every thread has freed its share (the retry is against the bound, not a neighbour). */
    if (t->oom_phase == OOM_WAIT_FULL) {
        int32_t rc = wait_for_all(run, t, &run->oom_full, deadline);
        if (rc <= 0) return rc < 0 ? finish(run, r, t) : 0;
        t->oom_phase = OOM_FREE;
    }
    if (t->oom_phase == OOM_FREE) {
        /* Free the most recent share: contiguous memory, so the failing size can fit again. */
        uint64_t k = (uint64_t)((double)t->oom_n * c->oom_free_fraction);
        if (k == 0 && c->oom_free_fraction > 0 && t->oom_n > 0) k = 1;
        free_range(run, r, t, t->oom_n - k, t->oom_n);
        t->oom_n -= k;
        atomic_fetch_add(&run->oom_freed, 1);
        t->oom_phase = OOM_WAIT_FREED;
    }
    if (t->oom_phase == OOM_WAIT_FREED) {
        int32_t rc = wait_for_all(run, t, &run->oom_freed, deadline);
        if (rc <= 0) return rc < 0 ? finish(run, r, t) : 0;
        t->oom_phase = OOM_RETRY;
    }
    if (t->oom_phase == OOM_RETRY) {
        bool stored;
        uint64_t before = t->oom_n;
        if (t->oom_null_returns > 0 && take_one(run, r, t, t->oom_fail_size, &stored)) {
            t->oom_recovered = 1;
            free_range(run, r, t, before, t->oom_n);
            t->oom_n = before;
        }
    }
    return finish(run, r, t);
}


void sk_oom_release(sk_run_t *run, sk_thread_t *t) {
    for (uint64_t i = 0; i < t->oom_n; i++) {
        sk_entry_t e = unpack(t, &t->oom_blocks[i]);
        sk_diag_inflight(run, &e, 192 + t->role);
        if (!sk_block_free_raw(run, &e, false, SK_WHO_DRAIN + 192 + t->role)) run->reap_canary++;
        run->reaped_blocks++;
        run->reaped_bytes += e.size;
    }
    t->oom_n = 0;
    free(t->oom_blocks);
    t->oom_blocks = NULL;
    t->oom_cap = 0;
}
