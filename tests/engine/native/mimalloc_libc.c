/* The mimalloc calls of the real glue (native/src/alloc.c, stats.c, info.c) and of the engine,
 * answered by the C library: the glue itself is then built with ThreadSanitizer and the
 * sanitizer sees every allocation and every access to the glue's statistics (it cannot see
 * inside an uninstrumented mimalloc). tests/engine/test_sanitized_scenarios.py uses it. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <mimalloc.h>

static mi_error_fun *error_handler = NULL;
static void *error_arg = NULL;

/* mimalloc reports a failed allocation to its error handler; the glue sets errno there. */
static void *reported(void *p) {
    if (p == NULL && error_handler != NULL) error_handler(ENOMEM, error_arg);
    return p;
}

void *mi_malloc(size_t size) { return reported(malloc(size)); }
void *mi_calloc(size_t count, size_t size) { return reported(calloc(count, size)); }
void *mi_malloc_aligned(size_t size, size_t alignment) {
    if (size > SIZE_MAX - alignment) return reported(NULL);
    return reported(aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment));
}
void *mi_zalloc_aligned(size_t size, size_t alignment) {
    void *p = mi_malloc_aligned(size, alignment);
    if (p != NULL) memset(p, 0, size);
    return p;
}
void mi_free(void *p) { free(p); }
size_t mi_usable_size(const void *p) { return p ? malloc_usable_size((void *)p) : 0; }
void mi_register_error(mi_error_fun *fun, void *arg) {
    error_handler = fun;
    error_arg = arg;
}
int mi_version(void) { return 0; }
void mi_collect(bool force) { (void)force; }
mi_heap_t *mi_heap_main(void) { return NULL; }
bool mi_heap_visit_blocks(mi_heap_t *heap, bool visit_blocks, mi_block_visit_fun *visitor, void *arg) {
    (void)heap, (void)visit_blocks, (void)visitor, (void)arg;
    return true;
}
/* The oom role is not driven here (its bound is mimalloc's): refuse it. */
int mi_reserve_os_memory(size_t size, bool commit, bool allow_large) {
    (void)size, (void)commit, (void)allow_large;
    return -1;
}
void mi_option_set(mi_option_t option, long value) { (void)option, (void)value; }
