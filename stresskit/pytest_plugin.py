"""The pytest plugin (entry point ``pytest11: stresskit``), off unless used:

* ``pytest --stresskit scenarios/`` (or ``stresskit = true`` in the ini file) collects scenario
  TOML files as test items, one per scenario, named after it (``-k smr`` selects); a failure
  shows the failing thresholds and checks and the diagnosis; an invalid file fails with the
  lines `stresskit validate` prints. ``--stresskit-ops``/``--stresskit-duration`` shorten runs.
* fixture ``stresskit_run``: ``stresskit.run`` (docs/workflow.md), its profile files under the
  test's tmp dir;
* fixture ``stresskit_no_leaks``: the glue's statistics on for the test; at teardown the test
  fails if blocks it allocated through the glue are still allocated (how many, how many bytes).

Nothing here imports stresskit's native side until a scenario or fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stresskit", "stresskit scenarios as tests")
    group.addoption("--stresskit", action="store_true", default=None, help="collect stresskit scenario files (*.toml with [roles]) as tests")
    group.addoption("--stresskit-ops", type=int, default=None, help="override every collected scenario's allocations per replica")
    group.addoption("--stresskit-duration", default=None, help="override every collected scenario's duration (e.g. 1s)")
    parser.addini("stresskit", type="bool", default=False, help="collect stresskit scenario files as tests (like --stresskit)")


def _enabled(config: pytest.Config) -> bool:
    flag = config.getoption("--stresskit")
    return bool(flag) if flag is not None else bool(config.getini("stresskit"))


def _looks_like_scenario(path: Path) -> bool:
    try:
        text = path.read_text(errors="replace")[:65536]
    except OSError:
        return False
    return "[roles." in text or "[roles]" in text


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".toml" and _enabled(parent.config) and _looks_like_scenario(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFailed(Exception):
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from stresskit.api import ScenarioInvalid, load

        try:
            name = load(self.path).name
        except ScenarioInvalid as err:  # still an item: an invalid scenario is a failing test
            yield ScenarioItem.from_parent(self, name=self.path.stem, problems=err.lines)
            return
        yield ScenarioItem.from_parent(self, name=name, problems=None)


class ScenarioItem(pytest.Item):
    def __init__(self, *, problems: list[str] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problems = problems

    def runtest(self) -> None:
        import stresskit
        from stresskit.diagnostics.why import why_lines
        from stresskit.report.console import tally, threshold_line

        if self.problems is not None:
            raise ScenarioFailed(self.problems)
        config = self.config
        report = stresskit.run(self.path, ops=config.getoption("--stresskit-ops"), duration=config.getoption("--stresskit-duration"))
        if not report.passed:
            data = report.data
            lines = [f"{report.name}: {report.status.upper()} ({tally(data['thresholds'])}, seed {report.seed})"]
            lines += [threshold_line(t) for t in data["thresholds"] if not t["ok"]]
            lines += [f"error: {e}" for e in report.errors]
            lines += why_lines(data, None, name_failed=False)
            raise ScenarioFailed(lines)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return "\n".join(excinfo.value.lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"stresskit scenario {self.name}"


@pytest.fixture
def stresskit_run(tmp_path: Path) -> Callable[..., Any]:
    """``stresskit.run`` with --profile's files kept under the test's tmp dir."""
    import stresskit

    def run(scenario: Any, **overrides: Any) -> Any:
        overrides.setdefault("profile_dir", tmp_path / "stresskit-profile")
        return stresskit.run(scenario, **overrides)

    return run


@pytest.fixture
def stresskit_no_leaks() -> Iterator[Any]:
    """Statistics on for the test (from zero); at teardown nothing allocated through the glue
    during the test may still be allocated. Yields StatsSnapshot (``.take()`` for the numbers)."""
    from stresskit.allocator import counting

    with counting() as stats:
        yield stats
        left = stats.take()
    if left.live_blocks:
        pytest.fail(f"stresskit_no_leaks: {left.live_blocks} block(s), {left.current_allocated} usable bytes allocated through the "
                    f"glue during this test are still allocated at teardown ({left.alloc_count} allocations, {left.free_count} frees)",
                    pytrace=False)
