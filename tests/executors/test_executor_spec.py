"""The --executor value and the library comparison a Dask task makes before it runs (no cluster)."""

from __future__ import annotations

import pytest

from stresskit.executors import ExecutorSpec, parse_spec
from stresskit.executors.dask_task import LibraryMismatch, check_library, library_difference
from stresskit.report.environment import library_identity

pytestmark = pytest.mark.tier1


@pytest.mark.parametrize(("value", "spec"), [
    ("local", ExecutorSpec("local")),
    ("dask", ExecutorSpec("dask")),
    ("dask://10.0.0.5:8786", ExecutorSpec("dask", "tcp://10.0.0.5:8786")),
    (" dask://sched.example:1 ", ExecutorSpec("dask", "tcp://sched.example:1")),
])
def test_executor_values(value: str, spec: ExecutorSpec) -> None:
    assert parse_spec(value) == spec


@pytest.mark.parametrize("value", ["", "remote", "dask:", "dask://", "dask://host", "dask://:8786", "dask://h:0",
                                   "dask://h:65536", "dask://h:port", "tcp://h:8786", "dask://a/b:1"])
def test_bad_executor_values_say_what_was_expected(value: str) -> None:
    with pytest.raises(ValueError, match=r"expected local, dask or dask://HOST:PORT \(got "):
        parse_spec(value)


def test_the_same_build_passes_and_any_difference_is_named() -> None:
    here = library_identity()
    assert library_difference(here, dict(here)) is None
    check_library(here, "tcp://w:1")  # the build this process loads: no exception
    other = {**here, "sha256": "0" * 64, "mimalloc_version": "2.0.9"}
    line = library_difference(here, other)
    assert line is not None and "\n" not in line
    assert f"sha256 {'0' * 64} (client: {here['sha256']})" in line and f"mimalloc_version 2.0.9 (client: {here['mimalloc_version']})" in line
    assert "glue_version" not in line  # only what differs
    assert library_difference(here, {"error": "no library"}) == "cannot load the native library: no library"
    with pytest.raises(LibraryMismatch, match=r"^Dask worker tcp://w:1: another native library at .*: sha256 "):
        check_library({**here, "sha256": "f" * 64}, "tcp://w:1")
