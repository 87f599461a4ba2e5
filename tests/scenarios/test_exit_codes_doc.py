"""docs/exit-codes.md lists every exit code the CLI can return and, like every other doc and
docstring, cites only tests that exist (a file, and the test function when it names one): a code
added to the CLI, or a cited test that is renamed or removed, fails here."""

from __future__ import annotations

import re
import signal

import pytest

from scenario_helpers import REPO

pytestmark = pytest.mark.tier2

DOC = REPO / "docs" / "exit-codes.md"
CITATION = re.compile(r"\btests/[\w/]+\.py(?:::\w+)?")


def cli_exit_codes() -> set[int]:
    """Every EXIT_* constant of the modules that end the process, and the stop signals' codes."""
    import stresskit.bench.command as bench
    import stresskit.cli as cli
    import stresskit.diagnostics.replay as replay
    import stresskit.diagnostics.shrink as shrink
    import stresskit.session as session
    from stresskit.runner import signals

    codes = {value for module in (cli, session, bench, replay, shrink) for name, value in vars(module).items()
             if name.startswith("EXIT_") and isinstance(value, int)}
    codes |= {signals.exit_code(sig.name) for sig in (signal.SIGINT, *signals.STOP_SIGNALS)}
    return codes


def test_every_exit_code_is_documented() -> None:
    text = DOC.read_text()
    documented = {int(code) for code in re.findall(r"^\| \*\*(\d+)\*\* \|", text, flags=re.M)}
    assert cli_exit_codes() <= documented, f"undocumented exit codes: {sorted(cli_exit_codes() - documented)}"
    assert {0, 1, 2, 3, 4, 5, 129, 130, 143} <= documented


def test_every_documented_code_is_proven_by_a_cited_test() -> None:
    text = DOC.read_text()
    section = text.split("## Which tests prove them", 1)[1]
    proven = set()
    for row in re.findall(r"^\| ([\d, ]+) \| (.+) \|$", section, flags=re.M):
        if CITATION.search(row[1]):
            proven |= {int(c) for c in row[0].split(",")}
    documented = {int(code) for code in re.findall(r"^\| \*\*(\d+)\*\* \|", text, flags=re.M)}
    assert documented <= proven, f"codes without a test: {sorted(documented - proven)}"


CITING = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"] + sorted((REPO / "stresskit").rglob("*.py")) + sorted((REPO / "tools").rglob("*.py"))


@pytest.mark.parametrize("doc", CITING, ids=lambda p: str(p.relative_to(REPO)))
def test_cited_tests_exist(doc) -> None:
    for citation in CITATION.findall(doc.read_text()):
        path, _, function = citation.partition("::")
        assert (REPO / path).is_file(), f"{doc.name} cites {path}, which does not exist"
        if function:
            assert re.search(rf"^(async )?def {function}\(", (REPO / path).read_text(), flags=re.M), f"{doc.name} cites {citation}: no such test"
