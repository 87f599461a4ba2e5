"""The assembly entry points' layout (native/src/entry_x86_64.c, docs/c-api.md "Entry points in
assembly"): in each, the conditional tail call into mimalloc must be the last instruction of its
64-byte line, and the statistics-on fall-through must start the next line. That layout is what
keeps a statistics-off call at mimalloc's speed after statistics have been on; GNU as checks it
while assembling, Clang's assembler cannot, so the built library is checked here."""

from __future__ import annotations

import platform
import sys

import pytest

from .helpers import ffi, lib

pytestmark = [
    pytest.mark.tier1,
    pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                       reason="the assembly entry points exist on x86-64 ELF only (elsewhere the C ones)"),
]

JB, JNE = b"\x0f\x82", b"\x0f\x85"
# entry point -> the conditional tail call that must end its line
ENTRIES = {"cc_alloc": JB, "cc_free": JNE, "cc_free_unsized": JNE}
JMP_REL32 = 0xE9


def code(name: str) -> tuple[int, bytes]:
    """The entry's address and its bytes up to the end of the line after its own."""
    addr = int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))
    end = (addr | 63) + 1 + 64
    return addr, bytes(ffi.buffer(ffi.cast("char *", addr), end - addr))


def target(addr: int, insn_offset: int, insn: bytes) -> int:
    """Where a rel32 jump at insn_offset (whose opcode is insn) goes."""
    rel = int.from_bytes(insn[-4:], "little", signed=True)
    return addr + insn_offset + len(insn) + rel


@pytest.mark.parametrize("name", ENTRIES)
def test_the_tail_call_ends_its_line_and_the_slow_path_starts_the_next(name: str) -> None:
    addr, body = code(name)
    line_end = 64 - addr % 64  # offset of the next line in `body`
    tail = body[line_end - 6:line_end]
    if tail[:2] != ENTRIES[name]:
        pytest.fail(f"{name} at {addr:#x}: the 6 bytes before the line end are {tail.hex(' ')}, "
                    f"not a {ENTRIES[name].hex(' ')} rel32 tail call: the layout of entry_x86_64.c "
                    f"is off (an instruction of another length?), or this is a C-entries build")
    # The tail call leaves this library's code for mimalloc's, not for an address inside the entry.
    dest = target(addr, line_end - 6, tail)
    assert not addr <= dest < addr + len(body), f"{name}: the tail call jumps to {dest:#x}, inside the entry"
    # The next line reaches the slow path: a jmp rel32 within its first 8 bytes (after at most a
    # register move), not padding.
    nxt = body[line_end:line_end + 8]
    assert JMP_REL32 in nxt, f"{name}: the line after the tail call starts {nxt.hex(' ')}, no jump to the slow path"


def test_the_entries_still_allocate_and_free() -> None:
    """The layout test reads code; this one runs it: each entry, statistics off, through its fast path."""
    assert not lib.cc_alloc_stats_enabled()
    p = lib.cc_alloc(24)
    q = lib.cc_alloc_aligned(64, 256)
    r = lib.cc_alloc_aligned(8, 8)
    n = lib.cc_alloc_node(65)
    assert p != ffi.NULL and q != ffi.NULL and r != ffi.NULL and n != ffi.NULL
    assert int(ffi.cast("uintptr_t", n)) % 64 == 0 and lib.cc_usable_size(n) >= 128
    assert int(ffi.cast("uintptr_t", p)) % 16 == 0 and int(ffi.cast("uintptr_t", q)) % 256 == 0
    assert int(ffi.cast("uintptr_t", r)) % 8 == 0
    lib.cc_free(p, 24)
    lib.cc_free(q, 64)
    lib.cc_free_unsized(r)
    lib.cc_free(n, 65)
