/* Which build of the hottest entry points is compiled, and the slow paths they leave for: shared
 * by alloc.c (C entry points, slow paths) and entry_x86_64.c (the same entry points in assembly). */
#ifndef CC_ENTRY_INTERNAL_H
#define CC_ENTRY_INTERNAL_H

#include <stddef.h>

#include "stats_internal.h"

/* Why cc_alloc, cc_free and cc_free_unsized are assembly on x86-64 (docs/c-api.md, "Entry points
 * in assembly"; tools/glue_mode_probe.py shows it). Compiled from C, each is a compare, a
 * branch to the slow path that stays untaken while statistics are off, and a jump into
 * mimalloc, all in one 64-byte line. Once statistics have been on, that branch has been taken,
 * the core's branch predictor tracks it next to the jump, and from then on every stats-off call
 * on that core costs ~0.23 ns more (cc_alloc of 16 B: 1.21 -> 1.45 ns against mimalloc's 1.21;
 * the other core, where statistics never ran, stays at 1.21). A program that never counts never
 * pays it; one that ever counts, stresskit's own scenarios and `stresskit bench` among them,
 * pays it on every small allocation. Here the statistics switch is the line's one
 * branch, taken while statistics are off, straight into mimalloc (a conditional tail call,
 * which C compilers do not emit), and it ends the line: statistics make it fall through into
 * the next line's jump to the slow path, which the stats-off path never fetches.
 *
 * Used for x86-64 ELF with GCC or Clang, except in CC_DEBUG builds (whose cc_free checks the
 * size in C) or when CC_C_ENTRIES is defined; elsewhere the C entry points in alloc.c. */
#if defined(__x86_64__) && defined(__ELF__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(CC_DEBUG) && !defined(CC_C_ENTRIES)
#  define CC_ASM_ENTRIES 1
#else
#  define CC_ASM_ENTRIES 0
#endif

/* cc_alloc's slow path: size 0, or statistics on. Takes cc_alloc's argument unchanged. */
CC_INTERNAL void *cc_alloc_slow(size_t size);

/* cc_free's slow path (and cc_free_unsized's, with size 0): statistics on, or a CC_DEBUG build. */
CC_INTERNAL void cc_free_slow(void *ptr, size_t size);

#endif /* CC_ENTRY_INTERNAL_H */
