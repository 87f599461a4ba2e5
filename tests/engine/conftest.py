"""Fixtures for the native engine tests."""

from __future__ import annotations

import pytest

from stresskit import _native


@pytest.fixture(scope="session")
def native():
    """(ffi, lib) of the loaded native library; the engine's symbols must be there."""
    lib = _native.lib()
    try:
        lib.sk_engine_abi_sizeof
    except AttributeError:  # pragma: no cover - an old build of the library
        pytest.fail(f"{_native.load().path} has no engine symbols: rebuild the native library")
    return _native.ffi(), lib
