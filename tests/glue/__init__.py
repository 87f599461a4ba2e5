"""Tests of the cc_* glue (native/include/cc_alloc.h) and its native batches (sk_batch.h)."""
