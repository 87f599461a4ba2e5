/* A C program allocating through the glue: proves the installed header and library work together
 * (the conda recipe's test runs it). Exit 0 and one line on success. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cc_alloc.h"

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "cc_smoke: check failed: %s (line %d)\n", #cond, __LINE__); \
            return 1;                                                     \
        }                                                                 \
    } while (0)

int main(void) {
    cc_alloc_stats_enable(true);
    cc_alloc_stats_reset();
    char *p = cc_alloc(64);
    CHECK(p != NULL);
    memset(p, 0xAB, 64);
    unsigned char *z = cc_calloc(16, 8);
    CHECK(z != NULL);
    for (int i = 0; i < 128; i++) CHECK(z[i] == 0);
    void *a = cc_alloc_aligned(100, 4096);
    CHECK(a != NULL && ((uintptr_t)a % 4096) == 0);
    void *n = cc_alloc_node(24);
    CHECK(n != NULL && ((uintptr_t)n % CC_CACHE_LINE_SIZE) == 0);
    CHECK(cc_alloc(SIZE_MAX) == NULL);
    CHECK(cc_alloc_aligned(64, 48) == NULL);
    cc_free(p, 64);
    cc_free_unsized(z);
    cc_free(a, 100);
    cc_free_unsized(n);
    cc_alloc_stats_t s = cc_alloc_stats_snapshot();
    CHECK(s.alloc_count == 4 && s.free_count == 4 && s.current_allocated == 0 && s.failed_count == 1);
    printf("cc_smoke ok: glue %s, mimalloc %d, cache line %zu\n", cc_glue_version(),
           cc_mimalloc_version(), cc_cache_line_size());
    return 0;
}
