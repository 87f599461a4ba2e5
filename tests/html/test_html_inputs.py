"""`stresskit report` of a bad, damaged or foreign file: exit 2 and one line naming the file,
never a traceback (tests/faults/corrupt.py makes the damage)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stresskit.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
from corrupt import byte_damage, json_damage  # noqa: E402

pytestmark = [pytest.mark.tier5, pytest.mark.faults]

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "expected" / "311" / "run_pass.report.json"


def _real_report() -> bytes:
    """A golden report with the normalised placeholders put back as real values."""
    doc = json.loads(GOLDEN.read_text())

    def fix(v):  # noqa: ANN001, ANN202
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return 1.5 if v == "<F>" else 7 if v == "<V>" else v

    doc = fix(doc)
    doc["started_at"] = "2026-01-01T00:00:00Z"
    doc["unreclaimed_series"] = [{"replica": 0, "columns": ["t_s", "blocks", "bytes"], "points": [[0.0, 1, 64], [0.5, 2, 128]]}]
    doc["throughput_series"] = [{"replica": 0, "columns": ["t_s", "ops", "ops_per_s"], "points": [[0.2, 10, 50.0]]}]
    doc["latency_histograms"] = [{"replica": 0, "role": doc["plan"]["roles"][0]["name"], "op": "alloc", "count": 3,
                                  "columns": ["lower_ns", "upper_ns", "count"], "buckets": [[16, 18, 1], [20, 22, 2]]}]
    doc["environment"] = {"python": {"version": "3"}}
    return json.dumps(doc).encode()


def _invoke(tmp_path: Path, data: bytes) -> tuple[int, str]:
    src = tmp_path / "in.json"
    src.write_bytes(data)
    out = tmp_path / "out.html"
    out.unlink(missing_ok=True)
    result = CliRunner().invoke(main, ["report", str(src), "-o", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stderr


def test_the_undamaged_report_renders(tmp_path: Path) -> None:
    pytest.importorskip("plotly", reason="plotly (the html extra) is not installed")
    code, err = _invoke(tmp_path, _real_report())
    assert code == 0, err


@pytest.mark.parametrize("name,damaged", byte_damage(_real_report()) + json_damage(_real_report(), count=40), ids=lambda v: v if isinstance(v, str) else "")
def test_damaged_report_exits_0_or_2_with_one_line(tmp_path: Path, name: str, damaged: bytes) -> None:
    pytest.importorskip("plotly", reason="plotly (the html extra) is not installed")
    code, err = _invoke(tmp_path, damaged)
    assert code in (0, 2), (name, code, err)
    assert "Traceback" not in err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"stresskit: {tmp_path / 'in.json'}"), lines


@pytest.mark.parametrize("args,expected", [
    (["report", "/nonexistent/r.json", "-o", "x.html"], "no such file"),
    (["report", "{in}", "-o", "/proc/nowhere/x.html"], "--output"),
])
def test_unusable_paths_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    src = tmp_path / "r.json"
    src.write_bytes(_real_report())
    result = CliRunner().invoke(main, [a.replace("{in}", str(src)) for a in args])
    assert result.exit_code == 2, result.output + result.stderr
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
