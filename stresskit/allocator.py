"""A Pythonic face of the cc_* glue: blocks you can read and write, statistics as dataclasses.

Misuse is rejected here, with exceptions that say what to pass instead, before the C layer sees
it; the C layer keeps its own contract (NULL + errno) for C callers. Each call crosses the FFI
(~100-300 ns): use this to explore and test the glue, and the native engine to stress it.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

from stresskit import _native


# Facts of the loaded library, read on first use (not at import, so that importing stresskit
# works without the library) and then kept: they cannot change within a process.
@functools.cache
def _cache_line_size() -> int:
    return int(_native.lib().cc_cache_line_size())  # 128 on Apple arm64, 64 elsewhere


@functools.cache
def _size_max() -> int:
    return 2 ** (8 * _native.ffi().sizeof("size_t")) - 1


def __getattr__(name: str) -> int:
    if name == "CACHE_LINE_SIZE":
        return _cache_line_size()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BlockKind(enum.Enum):
    """Which cc_* function allocated a block."""

    PLAIN = "plain"  # cc_alloc
    CALLOC = "calloc"  # cc_calloc
    ALIGNED = "aligned"  # cc_alloc_aligned
    NODE = "node"  # cc_alloc_node


class BlockFreedError(RuntimeError):
    """A block was used after it was freed (through this object)."""


def _check_size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of bytes, got {value}")
    if value > _size_max():
        raise OverflowError(f"{name}={value} does not fit in size_t (max {_size_max()})")
    return value


def _check_alignment(alignment: int) -> int:
    if isinstance(alignment, bool) or not isinstance(alignment, int):
        raise TypeError(f"alignment must be an int, got {type(alignment).__name__}")
    ptr = _native.ffi().sizeof("void *")
    if alignment < ptr or alignment & (alignment - 1):
        raise ValueError(
            f"alignment must be a power of two >= {ptr}, got {alignment}; "
            f"round up to {max(ptr, 1 << max(alignment - 1, 0).bit_length())}"
        )
    return alignment


class Block:
    """A live block of native memory. Free it exactly once, with free() or by the Allocator."""

    __slots__ = ("_ptr", "size", "kind", "alignment")

    def __init__(self, ptr, size: int, kind: BlockKind, alignment: int) -> None:
        self._ptr = ptr
        self.size = size
        self.kind = kind
        self.alignment = alignment

    @property
    def address(self) -> int:
        return int(_native.ffi().cast("uintptr_t", self._live()))

    @property
    def usable_size(self) -> int:
        return int(_native.lib().cc_usable_size(self._live()))

    @property
    def freed(self) -> bool:
        return self._ptr is None

    def _live(self):
        if self._ptr is None:
            raise BlockFreedError(f"{self!r} was already freed")
        return self._ptr

    def write(self, data: bytes, offset: int = 0) -> None:
        if offset < 0 or offset + len(data) > self.size:
            raise IndexError(f"write of {len(data)} bytes at {offset} overruns a {self.size}-byte block")
        _native.ffi().buffer(self._live(), self.size)[offset : offset + len(data)] = data

    def read(self, length: int | None = None, offset: int = 0) -> bytes:
        length = self.size - offset if length is None else length
        if offset < 0 or length < 0 or offset + length > self.size:
            raise IndexError(f"read of {length} bytes at {offset} overruns a {self.size}-byte block")
        return bytes(_native.ffi().buffer(self._live(), self.size)[offset : offset + length])

    def free(self, *, sized: bool = True) -> None:
        """Free with cc_free(ptr, size) (sized) or cc_free_unsized(ptr)."""
        ptr = self._live()
        self._ptr = None
        if sized:
            _native.lib().cc_free(ptr, self.size)
        else:
            _native.lib().cc_free_unsized(ptr)

    def __repr__(self) -> str:
        where = "freed" if self._ptr is None else hex(int(_native.ffi().cast("uintptr_t", self._ptr)))
        return f"Block({self.kind.value}, size={self.size}, {where})"


class Allocator:
    """Allocates through the glue. Raises MemoryError where the C layer would return NULL."""

    def alloc(self, size: int) -> Block:
        _check_size("size", size)
        return self._wrap(_native.lib().cc_alloc(size), size, BlockKind.PLAIN, 0)

    def calloc(self, count: int, size: int) -> Block:
        _check_size("count", count)
        _check_size("size", size)
        total = count * size
        if total > _size_max():
            raise MemoryError(f"calloc({count}, {size}): {total} bytes overflow size_t")
        return self._wrap(_native.lib().cc_calloc(count, size), total, BlockKind.CALLOC, 0)

    def alloc_aligned(self, size: int, alignment: int) -> Block:
        _check_size("size", size)
        _check_alignment(alignment)
        return self._wrap(_native.lib().cc_alloc_aligned(size, alignment), size, BlockKind.ALIGNED, alignment)

    def alloc_node(self, size: int) -> Block:
        _check_size("size", size)
        return self._wrap(_native.lib().cc_alloc_node(size), size, BlockKind.NODE, _cache_line_size())

    @staticmethod
    def _wrap(ptr, size: int, kind: BlockKind, alignment: int) -> Block:
        if ptr == _native.ffi().NULL:
            raise MemoryError(f"cc_{kind.value} could not allocate {size} bytes")
        return Block(ptr, size, kind, alignment)


@dataclass(frozen=True)
class StatsSnapshot:
    """Glue statistics since the last reset. Bytes are usable sizes (see cc_alloc.h)."""

    alloc_count: int
    free_count: int
    alloc_bytes: int
    free_bytes: int
    current_allocated: int
    failed_count: int

    @classmethod
    def take(cls) -> StatsSnapshot:
        raw = _native.lib().cc_alloc_stats_snapshot()
        return cls(**{f.name: int(getattr(raw, f.name)) for f in fields(cls)})

    @property
    def live_blocks(self) -> int:
        return (self.alloc_count - self.free_count) % 2**64


def stats_enabled() -> bool:
    return bool(_native.lib().cc_alloc_stats_enabled())


def enable_stats(enabled: bool = True) -> None:
    _native.lib().cc_alloc_stats_enable(bool(enabled))


def reset_stats() -> None:
    _native.lib().cc_alloc_stats_reset()


@contextmanager
def counting(reset: bool = True) -> Iterator[type[StatsSnapshot]]:
    """Turn statistics on (from zero unless reset=False) for the block; restore the previous state.

    >>> with counting() as stats:
    ...     Allocator().alloc(64).free()
    ...     stats.take().alloc_count
    1
    """
    was = stats_enabled()
    enable_stats(True)
    if reset:
        reset_stats()
    try:
        yield StatsSnapshot
    finally:
        enable_stats(was)
