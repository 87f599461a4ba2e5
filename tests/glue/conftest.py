"""Fixtures for the glue tests."""

from __future__ import annotations

import pytest

from .sanitizers import SanitizerUnavailable, build_program, check_toolchain


@pytest.fixture(autouse=True)
def _stats_off_and_zero(clean_stats):
    """Every glue test starts and ends with statistics off and zeroed (they are process-global)."""
    yield


@pytest.fixture
def record_info(request):
    """record_info(name, value): a measurement kept for information only, never asserted (shown
    with -rP; in user_properties for plugins). Unlike record_property it does not warn under
    pytest's default junit family."""

    def record(name, value):
        request.node.user_properties.append((name, value))
        print(f"{request.node.name}: {name} = {value}")

    return record


@pytest.fixture(scope="session")
def asan_program(request, cache_lock, tmp_path_factory):
    """native/tests/cc_sanitize.c + the glue + mimalloc (MI_TRACK_ASAN=ON, MI_DEBUG), all under ASAN."""
    return _build_or_skip("asan", request, cache_lock, tmp_path_factory)


@pytest.fixture(scope="session")
def msan_program(request, cache_lock, tmp_path_factory):
    """native/tests/cc_sanitize.c + the glue + mimalloc, all under clang's MSAN."""
    return _build_or_skip("msan", request, cache_lock, tmp_path_factory)


def _build_or_skip(kind, request, cache_lock, tmp_path_factory):
    try:
        # Before the mimalloc download: a missing sanitizer must skip at once, with its reason.
        check_toolchain(kind, tmp_path_factory.mktemp(f"probe-{kind}"))
        return build_program(
            kind, request.getfixturevalue("mimalloc_source"), cache_lock
        )
    except SanitizerUnavailable as exc:
        pytest.skip(str(exc))
