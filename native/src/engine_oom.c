/* The OOM role: under a memory bound, allocate until the glue returns NULL, record what was
 * obtained, free part of it and prove allocation works again — without aborting or crashing.
 *
 * The bound is process-wide (that is what both mechanisms are), so an OOM role must run alone in
 * its process: a replica runs in its own worker process, and a scenario that puts other roles
 * beside an oom role has them share the bound. Mechanisms:
 *   - SK_OOM_MIMALLOC_ARENA: mi_reserve_os_memory(limit, commit=false, allow_large=false), then
 *     mi_option_disallow_os_alloc=1 so mimalloc serves only from reserved arenas. Memory mimalloc
 *     had already reserved in this process before (arenas of up to 1 GiB) stays usable, so the
 *     NULL arrives after `limit` plus whatever free space those arenas had: a fresh process is
 *     needed for a tight bound. When the role ends, OS allocation is allowed again (the reserved
 *     arena stays, as mimalloc cannot release it).
 *   - SK_OOM_RLIMIT_AS: setrlimit(RLIMIT_AS) to the address space in use plus `limit`; restored
 *     when the role ends. It bounds every allocator in the process, the interpreter's included.
 * A safety cap (4 x limit + 2 GiB obtained without a NULL) stops the role if the bound did not
 * take, so a broken bound cannot exhaust the machine; the result then says so. */
#include "engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <mimalloc.h>
#if defined(__unix__) || defined(__APPLE__)
#  include <sys/resource.h>
#  include <unistd.h>
#  define SK_HAVE_RLIMIT 1
#endif

enum { OOM_SETUP = 0, OOM_FILL = 1, OOM_RECOVER = 2, OOM_DONE = 3 };
enum { OOM_PROBES = 8 }; /* allocations tried after the first NULL, to count NULL returns */

#ifdef SK_HAVE_RLIMIT
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

static bool apply_limit(sk_thread_t *t, const sk_role_config_t *c) {
    if (c->memory_limit_bytes == 0) return false;
    if (c->oom_mechanism == SK_OOM_MIMALLOC_ARENA) {
        if (mi_reserve_os_memory((size_t)c->memory_limit_bytes, false, false) != 0) return false;
        mi_option_set(mi_option_disallow_os_alloc, 1);
        t->oom_limit_active = true;
        return true;
    }
#ifdef SK_HAVE_RLIMIT
    if (c->oom_mechanism == SK_OOM_RLIMIT_AS) {
        struct rlimit old;
        if (getrlimit(RLIMIT_AS, &old) != 0) return false;
        uint64_t in_use = address_space_in_use();
        if (in_use == 0) return false;
        struct rlimit lim = old;
        lim.rlim_cur = (rlim_t)(in_use + c->memory_limit_bytes);
        if (old.rlim_max != RLIM_INFINITY && lim.rlim_cur > old.rlim_max) lim.rlim_cur = old.rlim_max;
        if (setrlimit(RLIMIT_AS, &lim) != 0) return false;
        t->oom_saved_rlimit = (uint64_t)old.rlim_cur;
        t->oom_limit_active = true;
        return true;
    }
#endif
    return false;
}

static void lift_limit(sk_thread_t *t, const sk_role_config_t *c) {
    if (!t->oom_limit_active) return;
    t->oom_limit_active = false;
    if (c->oom_mechanism == SK_OOM_MIMALLOC_ARENA) {
        mi_option_set(mi_option_disallow_os_alloc, 0);
        return;
    }
#ifdef SK_HAVE_RLIMIT
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) == 0) {
        lim.rlim_cur = (rlim_t)t->oom_saved_rlimit;
        setrlimit(RLIMIT_AS, &lim);
    }
#endif
}

/* The ledger grows with what the role obtains, so it is capped: at SK_OOM_MAX_LEDGER entries
 * (stresskit refuses at validation a limit that this many blocks of the role's smallest size
 * cannot reach). A full ledger ends the filling like the safety cap does. */
static bool keep(sk_thread_t *t, const sk_entry_t *e) {
    if (t->oom_n == t->oom_cap) {
        if (t->oom_cap >= SK_OOM_MAX_LEDGER) return false;
        uint64_t cap = t->oom_cap ? t->oom_cap * 2 : 4096;
        if (cap > SK_OOM_MAX_LEDGER) cap = SK_OOM_MAX_LEDGER;
        sk_entry_t *grown = realloc(t->oom_blocks, cap * sizeof *grown);
        if (grown == NULL) return false;
        t->oom_blocks = grown;
        t->oom_cap = cap;
    }
    t->oom_blocks[t->oom_n++] = *e;
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
        /* No room to remember it (bookkeeping memory is bounded too under RLIMIT_AS): give it
         * back at once so nothing leaks, and stop filling. */
        sk_block_free(run, r, t, &e, false);
        *stored = false;
    }
    t->oom_obtained_bytes += *stored ? size : 0;
    return true;
}

static void free_range(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to; i++) sk_block_free(run, r, t, &t->oom_blocks[i], sk_should_time(run, t));
}

int32_t sk_step_oom(sk_run_t *run, sk_role_t *r, sk_thread_t *t, uint64_t deadline) {
    const sk_role_config_t *c = &r->cfg;
    if (t->oom_phase == OOM_SETUP) {
        /* Reserve the bookkeeping before the bound applies: about two entries per smallest block
         * that fits in the limit, capped; it grows later if need be. */
        uint64_t min_size = c->size_values[0];
        for (uint32_t i = 1; i < c->size_count; i++)
            if (c->size_values[i] < min_size) min_size = c->size_values[i];
        if (min_size < SK_MIN_BLOCK) min_size = SK_MIN_BLOCK;
        uint64_t want = c->memory_limit_bytes / min_size * 2 + 64;
        if (want > (UINT64_C(1) << 24)) want = UINT64_C(1) << 24;
        t->oom_blocks = malloc(want * sizeof *t->oom_blocks);
        t->oom_cap = t->oom_blocks != NULL ? want : 0;
        t->oom_limit_applied = apply_limit(t, c) ? 1 : 0;
        t->measuring = true;
        t->t_start = sk_now_ns();
        t->oom_phase = t->oom_limit_applied ? OOM_FILL : OOM_DONE;
    }
    const uint64_t cap = c->memory_limit_bytes * 4 + (UINT64_C(2) << 30);
    for (uint64_t iter = 1; t->oom_phase == OOM_FILL; iter++) {
        if (atomic_load_explicit(&run->abort_now, memory_order_relaxed)) {
            lift_limit(t, c);
            sk_thread_finish(run, r, t);
            return 1;
        }
        if ((iter % 32) == 0 && sk_now_ns() >= deadline) return 0;
        uint64_t size = sk_draw_size(r, &t->rng);
        bool stored;
        if (!take_one(run, r, t, size, &stored)) {
            t->oom_null_returns++;
            t->oom_fail_size = size;
            t->oom_bytes_before_null = t->oom_obtained_bytes;
            t->oom_blocks_before_null = t->oom_n;
            t->oom_phase = OOM_RECOVER;
        } else if (!stored || t->oom_obtained_bytes > cap) {
            t->oom_hit_cap = 1;
            t->oom_fail_size = size;
            t->oom_bytes_before_null = t->oom_obtained_bytes;
            t->oom_blocks_before_null = t->oom_n;
            t->oom_phase = OOM_RECOVER;
        }
    }
    if (t->oom_phase == OOM_RECOVER) {
        if (t->oom_null_returns > 0) {
            /* Count more NULLs: the same size again, then larger ones, which must fail too. */
            for (int i = 0; i < OOM_PROBES; i++) {
                uint64_t s = i < OOM_PROBES / 2 ? t->oom_fail_size : t->oom_fail_size << (i - OOM_PROBES / 2 + 1);
                bool stored;
                if (!take_one(run, r, t, s, &stored)) t->oom_null_returns++;
            }
        }
        /* Free the most recent share: contiguous memory, so the failing size can fit again. */
        uint64_t k = (uint64_t)((double)t->oom_n * c->oom_free_fraction);
        if (k == 0 && c->oom_free_fraction > 0 && t->oom_n > 0) k = 1;
        free_range(run, r, t, t->oom_n - k, t->oom_n);
        t->oom_n -= k;
        bool stored;
        uint64_t before = t->oom_n;
        if (take_one(run, r, t, t->oom_fail_size, &stored)) {
            t->oom_recovered = 1;
            free_range(run, r, t, before, t->oom_n);
            t->oom_n = before;
        }
        free_range(run, r, t, 0, t->oom_n);
        t->oom_n = 0;
        lift_limit(t, c);
        t->oom_phase = OOM_DONE;
    }
    sk_thread_finish(run, r, t);
    return 1;
}

void sk_oom_release(sk_run_t *run, sk_thread_t *t) {
    const sk_role_config_t *c = &run->roles[t->role].cfg;
    for (uint64_t i = 0; i < t->oom_n; i++) {
        if (!sk_block_free_raw(run, &t->oom_blocks[i], false)) run->reap_canary++;
        run->reaped_blocks++;
        run->reaped_bytes += t->oom_blocks[i].size;
    }
    t->oom_n = 0;
    lift_limit(t, c);
    free(t->oom_blocks);
    t->oom_blocks = NULL;
    t->oom_cap = 0;
}
