BENCH_CDEF = ""  # filled by the benchmark harness: declarations of native/include/sk_bench.h
