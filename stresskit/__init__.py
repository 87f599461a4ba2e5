"""stresskit: stress-test the mimalloc allocation glue (cc_*) of lock-free data structures."""

from stresskit._version import __version__
from stresskit.allocator import (
    CACHE_LINE_SIZE,
    Allocator,
    Block,
    BlockKind,
    StatsSnapshot,
    counting,
    stats_enabled,
)

__all__ = [
    "CACHE_LINE_SIZE",
    "Allocator",
    "Block",
    "BlockKind",
    "StatsSnapshot",
    "__version__",
    "counting",
    "stats_enabled",
]
