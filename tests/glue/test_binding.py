"""The binding matches the headers: every CC_API function of the glue's headers is declared for
cffi (stresskit/_cdefs.py) and exported by the loaded library, and nothing is declared that the
headers no longer have."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from stresskit import _cdefs, _native

pytestmark = pytest.mark.tier1

INCLUDE = Path(__file__).resolve().parents[2] / "native" / "include"
HEADERS = ("cc_alloc.h", "cc_alloc_testing.h", "sk_batch.h")
# `CC_API <return type> name(`, the return type possibly a pointer, spanning no `;`.
CC_API_DECL = re.compile(r"\bCC_API\s+[^;(]*?\b([A-Za-z_]\w*)\s*\(")
CDEF_DECL = re.compile(r"^[^;{}()#]*?\b([A-Za-z_]\w*)\s*\([^;]*\)\s*;", re.MULTILINE)


def header_functions() -> set[str]:
    names = set()
    for header in HEADERS:
        text = re.sub(r"/\*.*?\*/", "", (INCLUDE / header).read_text(), flags=re.DOTALL)
        text = "\n".join(
            line for line in text.splitlines() if not line.lstrip().startswith("#")
        )
        names |= set(CC_API_DECL.findall(text))
    return names


def cdef_functions() -> set[str]:
    return set(CDEF_DECL.findall(_cdefs.GLUE_CDEF + _cdefs.BATCH_CDEF))


def test_every_cc_api_function_is_declared_and_exported():
    declared_in_headers = header_functions()
    # The regex finds what we know is there (guards against a regex that matches nothing).
    assert {
        "cc_alloc",
        "cc_free_unsized",
        "cc_alloc_stats_testing_bump",
        "sk_rendezvous",
    } <= declared_in_headers
    in_cdefs = cdef_functions()
    missing = declared_in_headers - in_cdefs
    assert not missing, (
        f"declared CC_API in native/include but not in stresskit/_cdefs.py: {sorted(missing)}"
    )
    stale = in_cdefs - declared_in_headers
    assert not stale, (
        f"declared in stresskit/_cdefs.py (glue/batch) but gone from the headers: {sorted(stale)}"
    )
    lib = _native.lib()
    unexported = []
    for name in sorted(declared_in_headers):
        try:
            getattr(lib, name)  # cffi ABI mode resolves the symbol with dlsym here
        except AttributeError:
            unexported.append(name)
    assert not unexported, f"{_native.load().path} does not export {unexported}"
    nm = shutil.which("nm")
    if nm:  # the dynamic symbol table itself, where the linker could hide a name
        out = subprocess.run(
            [nm, "-D", "--defined-only", str(_native.load().path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        exported = {line.split()[-1] for line in out.splitlines() if line.strip()}
        assert declared_in_headers <= exported, sorted(declared_in_headers - exported)
