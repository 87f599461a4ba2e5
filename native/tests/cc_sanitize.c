/* cc_sanitize — drives the cc_* glue under AddressSanitizer or MemorySanitizer for
 * tests/glue/test_memory.py. The glue sources and mimalloc (built from source) are compiled into
 * this program with the same sanitizer, so every access is instrumented.
 *
 * Usage: cc_sanitize MODE. Each mode is one scenario; the test decides from the exit status and
 * the sanitizer report on stderr whether the sanitizer caught what it must (or stayed silent).
 * mimalloc itself finds some misuse that ASAN cannot see (its free lists live inside freed blocks,
 * which it unpoisons to use): a double free is caught by mimalloc's debug check, which only
 * prints and carries on. on_mimalloc_error turns that into an abort, like an ASAN report.
 *
 *   clean            exercise every glue function, stats and batches, several threads: no report
 *   use-after-free   read a block after cc_free: ASAN must report it
 *   double-free      cc_free the same block twice: ASAN (or mimalloc's check) must report it
 *   double-free-unsized  the same through cc_free_unsized, on a cache-line node block
 *   calloc-reuse     (MSAN) dirty + poison blocks, free them, cc_calloc the same sizes and branch
 *                    on every byte: calloc must have zeroed the reused blocks, MSAN stays silent
 *   alloc-reuse      (MSAN control) the same with cc_alloc: MSAN must report the branch on
 *                    uninitialised bytes, which proves the blocks were reused and MSAN is active
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>
/* Only with a sanitizer on: the header is also there for a plain build (the aarch64 run under
 * qemu, tests/platforms), which links no sanitizer runtime to provide the function. */
#if defined(__SANITIZE_ADDRESS__)
#  define CC_SANITIZED 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#    define CC_SANITIZED 1
#  endif
#endif
#if defined(CC_SANITIZED)
#  include <sanitizer/common_interface_defs.h>
#  define CC_HAS_SANITIZER_TRACE 1
#endif

#include "cc_alloc.h"
#include "sk_batch.h"

#if defined(__has_feature)
#  if __has_feature(memory_sanitizer)
#    define CC_MSAN 1
#    include <sanitizer/msan_interface.h>
#  endif
#endif

#define FAIL(...)                                  \
    do {                                           \
        fprintf(stderr, "cc_sanitize: " __VA_ARGS__); \
        fputc('\n', stderr);                       \
        return 3;                                  \
    } while (0)

/* mimalloc has one error-handler slot and the glue registers its own at load time (to set
 * errno = ENOMEM on failed allocations); registering here replaces it, so do what it does for
 * ENOMEM/EOVERFLOW and EFAULT, and add EAGAIN, mimalloc's double-free report, as a hard stop. */
static void on_mimalloc_error(int err, void *arg) {
    (void)arg;
    if (err == ENOMEM || err == EOVERFLOW) {
        errno = ENOMEM;
        return;
    }
    if (err != EAGAIN && err != EFAULT) return;
    fprintf(stderr, "cc_sanitize: mimalloc detected %s; aborting\n",
            err == EAGAIN ? "a double free" : "heap corruption");
#if CC_HAS_SANITIZER_TRACE
    __sanitizer_print_stack_trace();
#endif
    abort();
}

enum { THREADS = 4, BLOCKS = 512, REUSE_BLOCKS = 2048 };

/* Blocks handed from the allocating thread to the one that frees them. */
static void *handoff[THREADS][BLOCKS];

static void *alloc_worker(void *arg) {
    size_t t = (size_t)(uintptr_t)arg;
    size_t ok = sk_batch_alloc(handoff[t], BLOCKS, NULL, 24 + 8 * t, (sk_kind_t)(t % 4), 64, t,
                               NULL);
    return (void *)(uintptr_t)(ok == BLOCKS ? 0 : 1);
}

static void *free_worker(void *arg) {
    size_t t = (size_t)(uintptr_t)arg;
    size_t from = (t + 1) % THREADS; /* someone else's blocks: cross-thread frees */
    size_t damaged = sk_batch_free(handoff[from], BLOCKS, NULL, 24 + 8 * from, (t & 1) != 0, from,
                                   NULL);
    return (void *)(uintptr_t)(damaged == 0 ? 0 : 1);
}

static int run_threads(void *(*fn)(void *)) {
    pthread_t th[THREADS];
    int bad = 0;
    for (size_t t = 0; t < THREADS; t++)
        if (pthread_create(&th[t], NULL, fn, (void *)(uintptr_t)t) != 0) return 1;
    for (size_t t = 0; t < THREADS; t++) {
        void *rc = NULL;
        pthread_join(th[t], &rc);
        bad |= rc != NULL;
    }
    return bad;
}

static int clean(void) {
    cc_alloc_stats_enable(true);
    cc_alloc_stats_reset();
    unsigned char *p = cc_alloc(100);
    unsigned char *z = cc_calloc(10, 30);
    unsigned char *a = cc_alloc_aligned(5000, 4096);
    unsigned char *n = cc_alloc_node(40);
    if (p == NULL || z == NULL || a == NULL || n == NULL) FAIL("allocation failed");
    /* Touch the whole requested range of each block: ASAN flags any byte the glue did not give. */
    memset(p, 1, 100);
    for (size_t i = 0; i < 300; i++)
        if (z[i] != 0) FAIL("calloc byte %zu not zero", i);
    memset(a, 2, 5000);
    memset(n, 3, 40);
    if (cc_usable_size(p) < 100 || cc_usable_size(n) < 64) FAIL("usable size too small");
    if (cc_alloc(SIZE_MAX) != NULL || cc_calloc(SIZE_MAX, 2) != NULL ||
        cc_alloc_aligned(64, 48) != NULL || cc_alloc(0) != NULL)
        FAIL("an invalid request did not return NULL");
    cc_free(p, 100);
    cc_free_unsized(z);
    cc_free(a, 5000);
    cc_free(n, 40);
    cc_free(NULL, 8);
    cc_free_unsized(NULL);
    if (sk_alloc_free_loop(20, 256, 48, SK_KIND_PLAIN, 0, 7, NULL) != 0) FAIL("loop damaged");
    if (run_threads(alloc_worker) != 0) FAIL("threaded allocation failed");
    if (run_threads(free_worker) != 0) FAIL("cross-thread free found damage");
    cc_alloc_stats_t s = cc_alloc_stats_snapshot();
    if (s.alloc_count != s.free_count || s.current_allocated != 0)
        FAIL("stats unbalanced: %llu allocs, %llu frees, %llu bytes live",
             (unsigned long long)s.alloc_count, (unsigned long long)s.free_count,
             (unsigned long long)s.current_allocated);
    printf("clean ok\n");
    return 0;
}

static int use_after_free(void) {
    volatile unsigned char *p = cc_alloc(64);
    if (p == NULL) FAIL("allocation failed");
    p[10] = 42;
    cc_free((void *)p, 64);
    unsigned char v = p[10]; /* the bug under test */
    printf("read %u after free: not detected\n", v);
    return 0;
}

static int double_free(void) {
    void *p = cc_alloc(64);
    void *keep = cc_alloc(64); /* keeps the page alive so the second free hits a known block */
    if (p == NULL || keep == NULL) FAIL("allocation failed");
    cc_free(p, 64);
    cc_free(p, 64); /* the bug under test */
    cc_free(keep, 64);
    printf("double free: not detected\n");
    return 0;
}

static int double_free_unsized(void) {
    void *n = cc_alloc_node(40);
    void *keep = cc_alloc_node(40);
    if (n == NULL || keep == NULL) FAIL("allocation failed");
    cc_free_unsized(n);
    cc_free_unsized(n); /* the bug under test */
    cc_free_unsized(keep);
    printf("unsized double free: not detected\n");
    return 0;
}

/* Free REUSE_BLOCKS dirty blocks whose bytes MSAN believes uninitialised (as it would if mimalloc
 * told it, like it tells ASAN with MI_TRACK_ASAN), then allocate the same number again: most
 * come back reused, so reading them is only clean if the allocation function initialised them.
 * Sizes stay above 127 bytes: below that, mimalloc zeroes with an inline `rep stosb` on CPUs with
 * fast short string ops, a store MSAN cannot see (it would report calloc memory as uninitialised). */
static int reuse(int use_calloc) {
#ifndef CC_MSAN
    (void)use_calloc;
    FAIL("modes calloc-reuse/alloc-reuse need a -fsanitize=memory build");
#else
    static const size_t sizes[] = {128, 200, 1024, 5000};
    static unsigned char *blocks[REUSE_BLOCKS];
    size_t dirty = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t size = sizes[k];
        for (size_t i = 0; i < REUSE_BLOCKS; i++) {
            blocks[i] = cc_alloc(size);
            if (blocks[i] == NULL) FAIL("allocation failed");
            memset(blocks[i], 0xA5, size);
            __msan_poison(blocks[i], size);
        }
        for (size_t i = 0; i < REUSE_BLOCKS; i++) cc_free(blocks[i], size);
        for (size_t i = 0; i < REUSE_BLOCKS; i++) {
            blocks[i] = use_calloc ? cc_calloc(1, size) : cc_alloc(size);
            if (blocks[i] == NULL) FAIL("allocation failed");
        }
        for (size_t i = 0; i < REUSE_BLOCKS; i++) {
            unsigned char acc = 0;
            for (size_t j = 0; j < size; j++) acc |= blocks[i][j];
            if (acc != 0) dirty++; /* the branch MSAN checks */
        }
        for (size_t i = 0; i < REUSE_BLOCKS; i++) cc_free_unsized(blocks[i]);
    }
    /* The compiler may turn the branch above into arithmetic; this check cannot be optimised out. */
    __msan_check_mem_is_initialized(&dirty, sizeof dirty);
    if (use_calloc && dirty != 0) FAIL("%zu calloc blocks were not zeroed", dirty);
    printf("%s ok: %zu dirty blocks\n", use_calloc ? "calloc-reuse" : "alloc-reuse", dirty);
    return 0;
#endif
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: cc_sanitize clean|use-after-free|double-free|double-free-unsized|calloc-reuse|alloc-reuse\n");
        return 2;
    }
    mi_register_error(on_mimalloc_error, NULL);
    const char *mode = argv[1];
    if (strcmp(mode, "clean") == 0) return clean();
    if (strcmp(mode, "use-after-free") == 0) return use_after_free();
    if (strcmp(mode, "double-free") == 0) return double_free();
    if (strcmp(mode, "double-free-unsized") == 0) return double_free_unsized();
    if (strcmp(mode, "calloc-reuse") == 0) return reuse(1);
    if (strcmp(mode, "alloc-reuse") == 0) return reuse(0);
    fprintf(stderr, "cc_sanitize: unknown mode '%s'\n", mode);
    return 2;
}
