"""A real profiled run, made once for the HTML tests (two replicas, a short smr run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stresskit.cli import main


@pytest.fixture(scope="session")
def profiled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    pytest.importorskip("plotly", reason="plotly (the html extra, in [test]) is not installed")
    out = tmp_path_factory.mktemp("run")
    report = out / "smr.json"
    result = CliRunner().invoke(main, ["run", "smr", "--duration", "1s", "--json", str(report), "--profile",
                                       "--profile-dir", str(out / "profile"), "-q"])
    assert result.exit_code == 0, result.output + result.stderr
    return report, json.loads(report.read_text())
