/* cc_alloc_testing.h — hooks for stresskit's own tests. Not part of the glue's contract. */
#ifndef CC_ALLOC_TESTING_H
#define CC_ALLOC_TESTING_H

#include "cc_alloc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Add `delta` (mod 2^64) to every counter of the calling thread's statistics record, as if that
 * many operations had happened. Lets a test reach the uint64 wrap-around without 2^64 calls.
 * Does nothing while statistics are off. */
CC_API void cc_alloc_stats_testing_bump(uint64_t delta);

#ifdef __cplusplus
}
#endif

#endif /* CC_ALLOC_TESTING_H */
