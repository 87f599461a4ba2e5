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
/* The glue's statistics count what the allocator hands out (alloc.c): the usable size with the block. */
void *mi_umalloc(size_t size, size_t *block_size) {
    void *p = mi_malloc(size);
    if (block_size != NULL) *block_size = mi_usable_size(p);
    return p;
}
void *mi_ucalloc(size_t count, size_t size, size_t *block_size) {
    void *p = mi_calloc(count, size);
    if (block_size != NULL) *block_size = mi_usable_size(p);
    return p;
}
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
/* The oom role is not driven here (its bound is a mimalloc arena): refuse it. */
size_t mi_arena_min_size(void) { return (size_t)32 << 20; }
size_t mi_arena_min_alignment(void) { return (size_t)64 << 10; }
bool mi_manage_os_memory_ex(void *start, size_t size, bool is_committed, bool is_pinned, bool is_zero, int numa_node,
                            bool exclusive, mi_arena_id_t *arena_id) {
    (void)start, (void)size, (void)is_committed, (void)is_pinned, (void)is_zero, (void)numa_node, (void)exclusive, (void)arena_id;
    return false;
}
mi_heap_t *mi_heap_new_in_arena(mi_arena_id_t arena_id) { (void)arena_id; return NULL; }
mi_theap_t *mi_heap_theap(mi_heap_t *heap) { (void)heap; return NULL; }
mi_theap_t *mi_theap_set_default(mi_theap_t *theap) { (void)theap; return NULL; }
