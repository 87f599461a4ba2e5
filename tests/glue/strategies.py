"""Hypothesis strategies for the glue: request sizes, alignments, fill patterns.

Kept apart from the state machine (test_stateful.py) so other property tests can draw the same
inputs. Sizes favour the small size classes where lock-free nodes live, with mimalloc's class
boundaries and a tail of larger blocks."""

from __future__ import annotations

from hypothesis import strategies as st

#: The seed's test data generators.
SEED_SIZES = (1, 8, 16, 64, 128, 256, 1024, 4096, 65536, 1048576)
SEED_ALIGNMENTS = (8, 16, 32, 64, 128, 256, 4096)

#: Request sizes: mostly node-sized, sometimes on a size-class edge, sometimes pages.
sizes = st.one_of(
    st.integers(min_value=1, max_value=256),
    st.sampled_from((7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 129, 1024, 4096)),
    st.integers(min_value=257, max_value=16384),
)

#: Element counts for cc_calloc(count, size); count * size stays modest.
calloc_counts = st.integers(min_value=1, max_value=16)
calloc_sizes = st.integers(min_value=1, max_value=512)

#: Every power of two the glue accepts from sizeof(void *) up to a page.
alignments = st.sampled_from([1 << s for s in range(3, 13)])

#: Seeds of the byte pattern written into a block right after allocation.
pattern_seeds = st.integers(min_value=0, max_value=2**32 - 1)

#: Sizes of the SIZE_MAX-class requests that must fail (NULL + ENOMEM).
impossible_sizes = st.sampled_from((2**64 - 1, 2**63 + 1, 2**64 - 4096))
