"""`--junit FILE`: the run as JUnit XML for CI test reporting. One testsuite per scenario, one
testcase per built-in check and per threshold (a failure's message is the threshold line, its
text the diagnosis: the "why it failed" lines); a run that errored (a worker crashed, the run
was interrupted) adds a testcase "run" with an <error>. ElementTree escapes every value."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from stresskit.diagnostics.why import why_lines
from stresskit.matrix.cells import titled
from stresskit.report.console import threshold_line


def _suite(report: dict[str, Any], json_path: str | None) -> ET.Element:
    name = titled(report)  # a matrix's cells are suites of their own
    thresholds = report["thresholds"]
    failures = sum(1 for t in thresholds if not t["ok"])
    skipped = sum(1 for t in thresholds if t.get("skipped"))
    errored = report["status"] == "error"
    suite = ET.Element("testsuite", name=f"stresskit.{name}", tests=str(len(thresholds) + errored), failures=str(failures),
                       errors=str(int(errored)), skipped=str(skipped), time=f"{report.get('elapsed_s') or 0:.3f}")
    diagnosis = "\n".join(why_lines(report, json_path))
    for t in thresholds:
        kind = "checks" if t.get("builtin") else "thresholds"
        case = ET.SubElement(suite, "testcase", classname=f"stresskit.{name}.{kind}", name=t.get("name") or t["expression"] if t.get("builtin") else t["expression"])
        if t.get("skipped"):
            ET.SubElement(case, "skipped", message=t.get("reason") or "skipped by the scenario (checks.skip)")
        elif not t["ok"]:
            failure = ET.SubElement(case, "failure", message=threshold_line(t), type="threshold" if kind == "thresholds" else "check")
            failure.text = diagnosis
    if errored:
        case = ET.SubElement(suite, "testcase", classname=f"stresskit.{name}", name="run")
        error = ET.SubElement(case, "error", message="; ".join(report.get("errors") or ["the run did not complete"]), type="error")
        error.text = diagnosis
    return suite


def document(reports: Sequence[dict[str, Any]], json_path: str | None = None) -> str:
    root = ET.Element("testsuites", name="stresskit")
    for report in reports:
        root.append(_suite(report, json_path))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
