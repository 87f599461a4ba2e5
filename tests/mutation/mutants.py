"""Planted glue bugs: each a small textual patch of native/src applied to a temporary copy of the
sources, never to the shipped library. Every patch must match its `old` text exactly once, so a
change to the glue cannot silently turn a mutant into a no-op (the build fails and says which).

`oracle` names the check of stresskit that is meant to catch the mutant; the kill matrix
(docs/mutation-matrix.md, tools/mutation_matrix.py) shows which scenario actually does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    description: str
    oracle: str
    edits: tuple[tuple[str, str, str], ...]  # (file under native/src, old, new)


_FAST_FREE = """    if (CC_LIKELY(!cc_stats_active())) {
        mi_free(ptr);
        return;
    }
#endif"""
_SLOW_FREE = """    if (cc_stats_active()) count_free(ptr);
    mi_free(ptr);"""
_FAST_CALLOC = "CC_RETURN_ALLOC(mi_calloc(1, at_least_min_block(count * size)));"
_SLOW_CALLOC = "void *p = mi_ucalloc(1, at_least_min_block(count * size), &usable);"
_FAST_ALIGNED = "CC_RETURN_ALLOC(mi_malloc_aligned(size, alignment));"
_SLOW_ALIGNED = "return finish_aligned(mi_malloc_aligned(size, alignment));"
_FAST_NODE = "        CC_RETURN_ALLOC(mi_malloc_aligned(rounded, CC_CACHE_LINE_SIZE));"
_SLOW_NODE = "return finish_aligned(mi_malloc_aligned(rounded, CC_CACHE_LINE_SIZE));"
_FAST_ALLOC = "if (CC_LIKELY(size - 1 < CC_GATE_LOAD())) CC_RETURN_ALLOC(mi_malloc(at_least_min_block(size)));"
_SLOW_ALLOC = "    if (size == 0) return NULL;\n    cc_stats_record_t *r = cc_stats_tls;"
_COUNT_ALLOC = "    count_alloc(p, p != NULL && !umalloc_usable_exact ? mi_usable_size(p) : usable);\n    return p;"
_RESET = "    baseline = raw;\n"
_EVERY = "static _Thread_local unsigned cc_mutant_n_; "
# Mutants of a stats-off fast path (cc_alloc, cc_free, cc_free_unsized) or of a helper it
# inlines patch the C version in alloc.c and build with the C entry points: on x86-64
# the shipped ones are assembly (entry_x86_64.c) jumping into the same slow paths, and the patch
# would not reach them.
_C_ENTRIES = ("entry_internal.h", "!defined(CC_C_ENTRIES)", "0 /* mutant: the C entry points */")

MUTANTS: tuple[Mutant, ...] = (
    Mutant("leak_slow_path", "cc_free skips the free (and its count) every 4096th call, statistics on", "no_glue_leak, glue_books",
           (("alloc.c", _SLOW_FREE, "    " + _EVERY + "if (++cc_mutant_n_ % 4096 == 0) return;\n" + _SLOW_FREE),)),
    Mutant("leak_fast_path", "cc_free skips mi_free every 4096th call on the stats-off fast path only", "no_glue_leak",
           (("alloc.c", _FAST_FREE, _FAST_FREE.replace("        mi_free(ptr);", "        " + _EVERY + "if (ptr && ++cc_mutant_n_ % 4096 == 0) return;\n        mi_free(ptr);")), _C_ENTRIES,)),
    Mutant("counted_not_freed", "cc_free counts the free but skips mi_free every 4096th time", "no_glue_leak",
           (("alloc.c", _SLOW_FREE, "    if (cc_stats_active()) count_free(ptr);\n    " + _EVERY + "if (++cc_mutant_n_ % 4096 == 0) return;\n    mi_free(ptr);"),)),
    Mutant("calloc_not_zeroed", "cc_calloc stops zeroing above 256 bytes (both paths)", "contract.calloc_dirty",
           (("alloc.c", _FAST_CALLOC, "CC_RETURN_ALLOC(count * size > 256 ? mi_malloc(count * size) : mi_calloc(1, at_least_min_block(count * size)));"),
            ("alloc.c", _SLOW_CALLOC, "void *p = count * size > 256 ? mi_umalloc(count * size, &usable) : mi_ucalloc(1, at_least_min_block(count * size), &usable);"))),
    Mutant("calloc_overflow", "cc_calloc's overflow check removed: count x size wraps and a small block comes back", "contract.overflow_accepted",
           (("alloc.c", "    if (count > SIZE_MAX / size) return finish_alloc(NULL, 0);\n", ""),)),
    Mutant("aligned_capped_64", "cc_alloc_aligned ignores alignments above 64 (uses 64)", "contract.misaligned",
           (("alloc.c", _FAST_ALIGNED, "CC_RETURN_ALLOC(mi_malloc_aligned(size, alignment > 64 ? 64 : alignment));"),
            ("alloc.c", _SLOW_ALIGNED, "return finish_aligned(mi_malloc_aligned(size, alignment > 64 ? 64 : alignment));"))),
    Mutant("node_not_rounded", "cc_alloc_node does not round the size to whole cache lines", "contract.short_blocks",
           (("alloc.c", _FAST_NODE, "        (void)rounded;\n        CC_RETURN_ALLOC(mi_malloc_aligned(size, CC_CACHE_LINE_SIZE));"),
            ("alloc.c", _SLOW_NODE, "(void)rounded;\n    return finish_aligned(mi_malloc_aligned(size, CC_CACHE_LINE_SIZE));"))),
    # (Only dropping the alignment, mi_malloc(rounded), is an equivalent mutant with mimalloc 3.4:
    # every size class that is a multiple of 64 is laid out 64-aligned, so no test can tell.)
    Mutant("node_plain_malloc", "cc_alloc_node is a plain cc_alloc: neither rounded to lines nor line-aligned", "contract.misaligned, short_blocks",
           (("alloc.c", _FAST_NODE, "        (void)rounded;\n        CC_RETURN_ALLOC(mi_malloc(size));"),
            ("alloc.c", _SLOW_NODE, "(void)rounded;\n    return finish_aligned(mi_malloc(size));"))),
    Mutant("node_aligned_at_offset", "cc_alloc_node aligns the block at a 16-byte offset (mi_malloc_aligned_at): the node starts 48 bytes off the line", "contract.misaligned",
           (("alloc.c", _FAST_NODE, "        CC_RETURN_ALLOC(mi_malloc_aligned_at(rounded, CC_CACHE_LINE_SIZE, 16));"),
            ("alloc.c", _SLOW_NODE, "return finish_aligned(mi_malloc_aligned_at(rounded, CC_CACHE_LINE_SIZE, 16));"))),
    Mutant("tiny_8_aligned_fast", "1-8 byte blocks only 8-aligned on the stats-off fast path", "contract.misaligned",
           (("alloc.c", _FAST_ALLOC, "if (CC_LIKELY(size - 1 < CC_GATE_LOAD())) CC_RETURN_ALLOC(mi_malloc(size));"), _C_ENTRIES,)),
    Mutant("tiny_8_aligned", "1-8 byte blocks only 8-aligned (no minimum block, both paths)", "contract.misaligned",
           (("alloc.c", "    return size < CC_MIN_BLOCK ? CC_MIN_BLOCK : size;", "    return size;"), _C_ENTRIES,)),
    Mutant("short_block", "blocks above 64 bytes are 8 bytes shorter than requested", "contract.short_blocks",
           (("alloc.c", "static inline size_t at_least_min_block(size_t size) {\n    return size < CC_MIN_BLOCK ? CC_MIN_BLOCK : size;",
             "static inline size_t at_least_min_block(size_t size) {\n    if (size > 64) return size - 8;\n    return size < CC_MIN_BLOCK ? CC_MIN_BLOCK : size;"), _C_ENTRIES,)),
    Mutant("errno_not_set", "a failed allocation leaves errno alone (handler and slow path)", "contract.bad_errno",
           (("alloc.c", "        errno = ENOMEM;\n    } else if (err == EFAULT)", "        (void)0;\n    } else if (err == EFAULT)"),
            ("alloc.c", "size_t usable) {\n    if (CC_UNLIKELY(p == NULL)) errno = ENOMEM;\n", "size_t usable) {\n"),
            ("alloc.c", "    if (CC_UNLIKELY(p == NULL)) errno = ENOMEM;\n    count_alloc(", "    count_alloc("))),
    Mutant("size0_returns_block", "cc_alloc(0) returns a block (slow path; the fast path sends size 0 there)", "contract.size0_blocks",
           (("alloc.c", _SLOW_ALLOC, _SLOW_ALLOC.replace("if (size == 0) return NULL;", "if (size == 0) return mi_malloc(0);")),)),
    Mutant("bad_alignment_accepted", "non-power-of-two alignments go straight to mimalloc (no EINVAL)", "contract.bad_errno / invalid_accepted",
           (("alloc.c", "    return alignment >= sizeof(void *) && (alignment & (alignment - 1)) == 0;", "    return alignment != 0;"),)),
    Mutant("unsized_free_uncounted", "cc_free_unsized never counts its free", "glue_books",
           (("alloc.c", "    cc_free_slow(ptr, 0);\n}", "    mi_free(ptr);\n}"), _C_ENTRIES,)),
    Mutant("bytes_requested", "alloc_bytes counts the requested instead of the usable size (cc_alloc)", "glue_books",
           (("alloc.c", _COUNT_ALLOC, "    count_alloc(p, size);\n    return p;"),
            ("stats.c", "allocs * cc_stats_class_usable[k];", "allocs * (uint64_t)(8 * k);"))),
    Mutant("failed_not_counted", "failed_count never incremented", "glue_books",
           (("alloc.c", "        cc_stats_add(&r->failed_count, 1);\n", ""),
            ("alloc.c", "    cc_stats_add(counted, (uint64_t)-1);\n    cc_stats_add(&r->failed_count, 1);\n", "    cc_stats_add(counted, (uint64_t)-1);\n"))),
    Mutant("null_free_counted", "cc_free(NULL) counted as a free when statistics are on", "glue_books",
           (("alloc.c", "CC_NOINLINE void cc_free_slow(void *ptr, size_t size) {\n    if (ptr == NULL) return;",
             # counted one by one: through count_free, a NULL (usable size 0) lands in size class 0,
             # which no snapshot sums, so that version of this bug cannot be seen (equivalent mutant)
             "CC_NOINLINE void cc_free_slow(void *ptr, size_t size) {\n    if (ptr == NULL) {\n"
             "        cc_stats_record_t *r = cc_stats_active() ? cc_stats_self() : NULL;\n"
             "        if (r != NULL) cc_stats_add(&r->free_count, 1);\n        return;\n    }"),)),
    Mutant("reset_keeps_failed", "cc_alloc_stats_reset does not rebase failed_count", "glue_books (lifecycle)",
           (("stats.c", _RESET, "    uint64_t kept = baseline.failed_count;\n    baseline = raw;\n    baseline.failed_count = kept;\n"),)),
    Mutant("reset_keeps_free_bytes", "cc_alloc_stats_reset does not rebase free_bytes", "glue_books (lifecycle)",
           (("stats.c", _RESET, "    uint64_t kept = baseline.free_bytes;\n    baseline = raw;\n    baseline.free_bytes = kept;\n"),)),
    Mutant("racy_shared_counter", "every thread counts into one shared record with a plain read-modify-write (lost updates)", "glue_books",
           (("stats_internal.h", "    cc_stats_record_t *r = cc_stats_tls;\n    return r != NULL ? r : cc_stats_claim();",
             "    static cc_stats_record_t *shared;\n    if (shared == NULL) shared = cc_stats_claim();\n    return shared;"),
            ("stats_internal.h", "    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + delta,\n                          memory_order_relaxed);",
             "    *(volatile uint64_t *)counter += delta;"))),
    Mutant("double_free", "cc_free frees every 8192nd block twice (fast path)", "crash or no_corruption",
           (("alloc.c", _FAST_FREE, _FAST_FREE.replace("        mi_free(ptr);", "        " + _EVERY + "if (ptr && ++cc_mutant_n_ % 8192 == 0) mi_free(ptr);\n        mi_free(ptr);")), _C_ENTRIES,)),
)
BY_NAME = {m.name: m for m in MUTANTS}
