"""`stresskit shrink SCENARIO --until EXPR`: a smaller scenario that still fails
(docs/diagnostics.md, Shrink).

Greedy: from the scenario, try each smaller candidate (shrink_steps.candidates: one replica,
whole roles, then halvings of threads, ops, sizes, batches, queues, grace); a candidate is run up
to N times, through session.execute exactly as `stresskit run` runs a scenario, and kept at the
first run in which EXPR holds (failures are probabilistic: one is enough to say it can still
fail). After a kept candidate the search starts over from it; it ends when no candidate is kept
(or at --max-time). The result is then run N more times for its failure rate.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stresskit.diagnostics.shrink_steps import Doc, Measure, candidates, measure
from stresskit.thresholds import Threshold, ThresholdSyntaxError, evaluate, parse

EXIT_SHRUNK, EXIT_NEVER_FAILED, EXIT_USAGE, EXIT_ERROR, EXIT_NOTHING_SMALLER = 0, 1, 2, 3, 5


class Interrupted(Exception):
    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


@dataclass
class Step:
    what: str
    measure: Measure
    runs: int  # runs it took to see the failure
    kept: bool


@dataclass
class Search:
    until: Threshold
    runs: int
    max_time_s: float | None
    echo: Callable[[str], None] = print
    started: float = field(default_factory=time.monotonic)
    steps: list[Step] = field(default_factory=list)
    runs_done: int = 0
    skipped_invalid: int = 0
    # Steps that lost the failure are not tried again while they read the same (after another
    # step has changed what they would change, they read differently and are tried anew).
    lost: set[str] = field(default_factory=set)

    def fails(self, checked: Any, attempts: int, stop_early: bool = True) -> int:
        """How many of ``attempts`` runs of the scenario met --until."""
        from stresskit.planner import plan
        from stresskit.report.console import Display
        from stresskit.report.json_report import ReportWriter
        from stresskit.session import Options, execute

        hits = 0
        for _ in range(attempts):
            report, interrupted = execute(plan(checked), Options(), Display(quiet=True), ReportWriter(None, multiple=False), 0)
            self.runs_done += 1
            if interrupted:
                raise Interrupted(str(interrupted))
            if evaluate(self.until, report["metrics"]).ok:
                hits += 1
                if stop_early:
                    return hits
        return hits

    def out_of_time(self) -> bool:
        return self.max_time_s is not None and time.monotonic() - self.started > self.max_time_s

    def shrink(self, checked: Any, doc: Doc) -> tuple[Any, Doc]:
        """The smallest failing scenario found from ``checked`` (whose document is ``doc``)."""
        current, current_doc, size = checked, doc, measure(checked.model)
        progress = True
        while progress and not self.out_of_time():
            progress = False
            for what, cand_doc in candidates(current_doc):
                if self.out_of_time():
                    break
                if what in self.lost:
                    continue
                cand = validated(checked.file, checked.name, cand_doc, self.until)
                if cand is None:
                    self.skipped_invalid += 1
                    continue
                cand_size = measure(cand.model)
                if not cand_size.smaller_than(size):
                    continue
                hits = self.fails(cand, self.runs)
                self.steps.append(Step(what, cand_size, self.runs_done, bool(hits)))
                self.echo(f"  {'kept' if hits else 'no failure in ' + str(self.runs) + ' runs:'} {what}")
                if not hits:
                    self.lost.add(what)
                else:
                    current, current_doc, size = cand, cand_doc, cand_size
                    progress = True
                    break  # start over from the smaller scenario: coarse steps first again
        return current, current_doc


def validated(file: str, name: str, doc: Doc, until: Threshold) -> Any | None:
    """The candidate as a CheckedScenario, or None if the validator rejects it or --until names a
    metric it cannot produce (a role that was dropped)."""
    from stresskit.metrics import known_metrics
    from stresskit.scenario import ScenarioError
    from stresskit.scenario.loading import scenario_from_document
    from stresskit.scenario.validation import check

    try:
        checked = check(file, scenario_from_document(file, doc), default_name=name)
    except ScenarioError:
        return None
    known = known_metrics(checked.model.roles)
    return checked if all(m in known for m in until.metrics) else None


def parse_until(expression: str, model: Any) -> Threshold:
    """--until, checked like a threshold of the scenario (ThresholdSyntaxError: one line)."""
    from stresskit.metrics import known_metrics

    until = parse(expression)
    known = known_metrics(model.roles)
    for name in until.metrics:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
            raise ThresholdSyntaxError(f"a known metric name (see docs/metrics.md), e.g. {close[0] if close else 'blocks.leaked'} (got {name})")
    return until


def to_toml(doc: Doc, header: list[str]) -> str:
    import tomli_w

    return "".join(f"# {line}\n" for line in header) + "\n" + tomli_w.dumps(doc)


def default_output(scenario: Path) -> Path:
    return Path(f"{scenario.stem}.shrunk.toml")


_HALVING = re.compile(r"^(.*?) (\S+) -> (\S+)$")


def merged(steps: list[Step]) -> list[tuple[str, Measure]]:
    """Kept steps, runs of halvings of one knob as one row: ``p: batch 64 -> 1 (6 steps)``."""
    rows: list[tuple[str, str, str, str, int, Measure]] = []  # knob, first, last, text, count, measure
    for step in (s for s in steps if s.kept):
        m = _HALVING.match(step.what)
        if m and rows and rows[-1][0] == m.group(1) and rows[-1][2] == m.group(2):
            knob, first, _, _, n, _ = rows[-1]
            rows[-1] = (knob, first, m.group(3), f"{knob} {first} -> {m.group(3)}", n + 1, step.measure)
        else:
            rows.append((m.group(1), m.group(2), m.group(3), step.what, 1, step.measure) if m else ("", "", "", step.what, 1, step.measure))
    return [(text + (f" ({n} steps)" if n > 1 else ""), measure) for _, _, _, text, n, measure in rows]


def table(original: Measure, steps: list[Step]) -> list[str]:
    lines = [f"{'step':<44} {'roles':>5} {'threads':>7} {'ops':>9} {'replicas':>8} {'sizes':>5} {'batch':>5} {'capacity':>8}"]

    def row(what: str, m: Measure) -> str:
        return f"{what[:44]:<44} {m.roles:>5} {m.threads:>7} {m.ops:>9,} {m.replicas:>8} {m.size_values:>5} {m.batch:>5} {m.capacity:>8}"

    lines.append(row("(the scenario)", original))
    lines += [row(what, m) for what, m in merged(steps)]
    return lines


def command(scenario: str, checked: Any, until_text: str, runs: int, max_time_s: float | None, output: str | None,
            echo: Callable[[str], None] = print) -> int:
    """`stresskit shrink`: returns the exit code. ``checked`` is the loaded scenario."""
    from stresskit.io.outputs import OutputError, WriteFailed, claim_file, write_atomic
    from stresskit.runner import signals

    def fail(line: str, code: int) -> int:
        print(f"stresskit: {line}", file=sys.stderr, flush=True)
        return code

    try:
        until = parse_until(until_text, checked.model)
    except ThresholdSyntaxError as exc:
        return fail(f"--until: expected {exc} (got {until_text!r})" if "(got" not in str(exc) else f"--until: expected {exc}", EXIT_USAGE)
    out_path = Path(output) if output is not None else default_output(Path(checked.file))
    try:
        out = claim_file("-o", out_path, inputs=[checked.file])
    except OutputError as exc:
        return fail(exc.line(), EXIT_USAGE)
    doc = checked.model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    search = Search(until, runs, max_time_s, echo)
    original = measure(checked.model)
    previous = signals.install()  # SIGTERM/SIGHUP end the search the way Ctrl-C does
    try:
        echo(f"shrink: {checked.file} until {until.expression}: running the scenario up to {runs} time(s)")
        if not search.fails(checked, runs):
            echo(f"{until.expression} never held in {runs} run(s) of {checked.file}: nothing to shrink (nothing written)")
            return EXIT_NEVER_FAILED
        final, final_doc = search.shrink(checked, doc)
        size = measure(final.model)
        for line in table(original, search.steps):
            echo(line)
        if final is checked:
            cut = f"before --max-time ({max_time_s:g} s) " if search.out_of_time() else ""
            echo(f"nothing smaller was found {cut}that still meets {until.expression} "
                 f"({len(search.steps)} candidate(s) run, {search.skipped_invalid} invalid skipped; nothing written)")
            return EXIT_NOTHING_SMALLER
        echo(f"measuring the failure rate of the smallest scenario over {runs} run(s)")
        hits = search.fails(final, runs, stop_early=False)
    except Interrupted as stop:
        echo(f"interrupted by {signals.described(stop.signame)} after {search.runs_done} run(s); nothing written")
        return signals.exit_code(stop.signame)
    finally:
        signals.restore(previous)
    header = [f"shrunk by `stresskit shrink {scenario} --until {until.expression!r}` from {checked.file}",
              f"smaller: {size.changes(original)}",
              f"{until.expression}: held in {hits}/{runs} runs of this scenario, measured after the search "
              f"(which saw it at least once per kept step; {search.runs_done} runs in all, "
              f"{time.monotonic() - search.started:.1f} s)"]
    try:
        write_atomic(out, to_toml(final_doc, header), "-o")
    except WriteFailed as exc:
        return fail(exc.line(), EXIT_ERROR)
    echo(f"wrote {out}: {until.expression} held in {hits}/{runs} runs ({hits / runs:.0%}); smaller: {size.changes(original)}")
    if not hits:  # it held in the search's run that kept the last step: rare at this size, not gone
        echo(f"note: {until.expression} held once while searching but in none of the {runs} runs since: "
             "the failure is rare at this size; rerun the file with more replicas, or shrink with more --runs")
    return EXIT_SHRUNK
