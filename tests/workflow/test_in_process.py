"""stresskit.run(..., isolate=False): replicas run in this process, judged by the same checks as
a worker's; a leak planted in one run fails that run and does not follow into the next (the
process' mimalloc state carries over, the verdicts do not); what cannot run in-process is
refused with one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import stresskit
from stresskit.engine import HOOKS_ENV

pytestmark = pytest.mark.tier4

REPO = Path(__file__).resolve().parents[2]
HANDOFF = {"name": "handoff", "load": {"ops": 4000, "replicas": 2, "seed": 11},
           "roles": {"p": {"action": "produce", "threads": 2, "sizes": [64, 4096]}, "c": {"action": "consume", "threads": 1}},
           "flows": [{"from": "p", "to": "c", "capacity": 64}]}


def _counts(report: stresskit.Report) -> dict[str, object]:
    keys = ("allocs.total", "ops.total", "blocks.leaked", "leak.mimalloc_blocks")
    return {k: report.metrics.get(k) for k in keys}


def test_in_process_runs_are_judged_like_isolated_ones() -> None:
    inside = stresskit.run(HANDOFF, isolate=False)
    isolated = stresskit.run(HANDOFF)
    assert inside.passed and isolated.passed, (inside.failed, isolated.failed)
    assert [r.pid for r in inside.replicas] == [os.getpid()] * 2 and inside.data["plan"]["workers"] == 1
    assert all(r.pid != os.getpid() for r in isolated.replicas)
    assert _counts(inside) == _counts(isolated) and inside.metrics["allocs.total"] == 2 * 4000
    names = lambda report: sorted(t.expression for t in report.thresholds)  # noqa: E731
    assert names(inside) == names(isolated)


def test_a_planted_leak_fails_its_run_and_not_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOKS_ENV, "testing_leak_blocks=3,testing_leak_role=c")
    leaking = stresskit.run(HANDOFF, isolate=False)
    assert leaking.status == "fail" and "no_glue_leak" in {t.name for t in leaking.failed}, leaking.failed
    assert leaking.metrics["leak.mimalloc_blocks"] == 2 * 3  # found in mimalloc's heap after the drain
    monkeypatch.delenv(HOOKS_ENV)
    after = stresskit.run(HANDOFF, isolate=False)  # the 6 blocks are still in mimalloc's heap
    assert after.passed, after.failed


@pytest.mark.parametrize(("scenario", "kwargs", "needle"), [
    (REPO / "scenarios" / "oom.toml", {}, 'has action "oom"'),
    ("smr", {"profile": True}, "profile: py-spy attaches to a worker process"),
])
def test_what_needs_a_worker_is_refused_in_one_line(scenario: object, kwargs: dict, needle: str, tmp_path: Path) -> None:
    with pytest.raises(stresskit.ScenarioInvalid) as err:
        stresskit.run(scenario, isolate=False, profile_dir=tmp_path / "p", **kwargs)  # type: ignore[arg-type]
    assert len(err.value.lines) == 1 and needle in err.value.lines[0] and "isolate=False" in err.value.lines[0]
    assert err.value.exit_code == 2
