/* A stand-in for the cc_* glue (and the two mimalloc calls of the oom role) on top of the C
 * library, so the engine alone can be built with ThreadSanitizer: the sanitizer intercepts
 * malloc/free and sees their synchronisation, which it cannot in an uninstrumented mimalloc. */
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cc_alloc.h"

void *cc_alloc(size_t size) { return size ? malloc(size) : NULL; }
void *cc_calloc(size_t count, size_t size) { return count && size ? calloc(count, size) : NULL; }
void *cc_alloc_aligned(size_t size, size_t alignment) {
    if (size == 0) return NULL;
    return aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}
void *cc_alloc_node(size_t size) {
    return size ? aligned_alloc(CC_CACHE_LINE_SIZE, (size + CC_CACHE_LINE_SIZE - 1) / CC_CACHE_LINE_SIZE * CC_CACHE_LINE_SIZE) : NULL;
}
void cc_free(void *ptr, size_t size) {
    (void)size;
    free(ptr);
}
void cc_free_unsized(void *ptr) { free(ptr); }
size_t cc_usable_size(const void *ptr) { return ptr ? malloc_usable_size((void *)ptr) : 0; }

/* mimalloc's view after the drain (sk_run_mimalloc_leaks): nothing to visit here. */
void mi_collect(bool force);
void *mi_heap_main(void);
bool mi_heap_visit_blocks(void *heap, bool visit_blocks, void *visitor, void *arg);
void mi_collect(bool force) { (void)force; }
void *mi_heap_main(void) { return NULL; }
bool mi_heap_visit_blocks(void *heap, bool visit_blocks, void *visitor, void *arg) {
    (void)heap, (void)visit_blocks, (void)visitor, (void)arg;
    return true;
}

/* The oom role's mimalloc bound: refused here (no arena can be made), so that role reports
 * limit_applied = 0. */
size_t mi_arena_min_size(void);
size_t mi_arena_min_alignment(void);
bool mi_manage_os_memory_ex(void *start, size_t size, bool committed, bool pinned, bool zero, int numa, bool exclusive, void **id);
void *mi_heap_new_in_arena(void *id);
void *mi_heap_theap(void *heap);
void *mi_theap_set_default(void *theap);
size_t mi_arena_min_size(void) { return (size_t)32 << 20; }
size_t mi_arena_min_alignment(void) { return (size_t)64 << 10; }
bool mi_manage_os_memory_ex(void *start, size_t size, bool committed, bool pinned, bool zero, int numa, bool exclusive, void **id) {
    (void)start, (void)size, (void)committed, (void)pinned, (void)zero, (void)numa, (void)exclusive, (void)id;
    return false;
}
void *mi_heap_new_in_arena(void *id) { (void)id; return NULL; }
void *mi_heap_theap(void *heap) { (void)heap; return NULL; }
void *mi_theap_set_default(void *theap) { (void)theap; return NULL; }
