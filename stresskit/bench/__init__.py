"""`stresskit bench`: the glue (`cc`, `cc+stats`) measured side by side with raw mimalloc and the
system allocator by a native harness (native/src/bench.c), with ratios, targets, goals, a
baseline comparison and a plot. See docs/performance.md."""
