/* Identity of the loaded library: what `stresskit doctor` and bug reports need. */
#include <mimalloc.h>

#include "cc_alloc.h"

const char *cc_glue_version(void) { return CC_GLUE_VERSION; }

int cc_mimalloc_version(void) { return mi_version(); }

size_t cc_cache_line_size(void) { return CC_CACHE_LINE_SIZE; }
