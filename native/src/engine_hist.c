/* Log-bucketed latency histograms (HdrHistogram-like, 3 bits of precision): values 0..7 get a
 * bucket each, then every power of two [2^e, 2^(e+1)) is split into 8 equal sub-buckets, so a
 * bucket is at most 12.5% wide whatever the magnitude. 496 buckets cover all of uint64; the
 * array has 512 for a round size. */

enum { SK_HIST_BUCKETS_USED = 496 };
#include "engine_internal.h"

uint32_t sk_hist_bucket_index(uint64_t ns) {
    if (ns < 8) return (uint32_t)ns;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(ns); /* e >= 3 */
    uint32_t sub = (uint32_t)(ns >> (e - 3)) & 7u;
    return (e - 2) * 8 + sub;
}

uint64_t sk_hist_bucket_lower(uint32_t index) {
    if (index < 8) return index;
    /* 2^63..2^64-1 ends in bucket 495: the buckets above are never used */
    if (index >= SK_HIST_BUCKETS_USED) return UINT64_MAX;
    uint32_t e = index / 8 + 2;
    uint64_t sub = index % 8;
    return (8 + sub) << (e - 3);
}

void sk_hist_record(sk_hist_t *h, uint64_t ns) {
    h->count++;
    if (ns > h->max_ns) h->max_ns = ns;
    h->buckets[sk_hist_bucket_index(ns)]++;
}

void sk_hist_merge(sk_hist_t *into, const sk_hist_t *from) {
    into->count += from->count;
    if (from->max_ns > into->max_ns) into->max_ns = from->max_ns;
    for (uint32_t i = 0; i < SK_HIST_BUCKETS; i++) into->buckets[i] += from->buckets[i];
}
