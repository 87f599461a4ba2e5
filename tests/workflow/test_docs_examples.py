"""Every code block of docs/workflow.md, run as written: python blocks executed, shell blocks run
line by line with the installed `stresskit` (a line ending in `# exit N` must exit N, others 0),
all in order in one scratch directory (later blocks read what earlier ones wrote). The
```python planted-bug block needs a mutant glue: tests/strategies/test_planted_glue_bug.py runs it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tier2

DOC = Path(__file__).resolve().parents[2] / "docs" / "workflow.md"
BLOCK = re.compile(r"```(python|sh)\n(.*?)```", re.S)
EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


def _blocks() -> list[tuple[str, str]]:
    return BLOCK.findall(DOC.read_text())


def test_the_doc_has_examples_of_each_part() -> None:
    text = "\n".join(code for _, code in _blocks())
    for needle in ("stresskit.run(", "stresskit.validate(", "stresskit.load(", "stresskit report ", "--html", "stresskit compare ",
                   "--baseline", "--junit", "scenarios(", "GlueMachine"):
        assert needle in text, needle


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workflow")


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_example(index: int, scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kind, code = _blocks()[index]
    if kind == "sh" and "--html" in code or "stresskit report" in code:
        pytest.importorskip("plotly", reason="the html extra (plotly) is not installed")
    monkeypatch.chdir(scratch)
    if kind == "python":
        exec(compile(code, f"{DOC.name} block {index}", "exec"), {"__name__": f"workflow_example_{index}"})  # noqa: S102 - the doc's own code
        return
    stresskit = Path(sys.executable).with_name("stresskit")
    env = {**os.environ, "PATH": f"{stresskit.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for line in code.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = EXIT.search(line)
        expected = int(m.group(1)) if m else 0
        command = EXIT.sub("", line).strip()
        done = subprocess.run(shlex.split(command), cwd=scratch, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == expected, f"{command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        if expected == 2:
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
