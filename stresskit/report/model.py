"""The typed view of a run report: what `stresskit.run` returns, what the CLI prints and writes,
and what `stresskit report`/`compare` read back from a JSON file.

The JSON document (json_report.build) stays the one source: a Report is that document validated
by pydantic, with ``data`` holding it unchanged so writing it back loses nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, StrictBool, StrictInt, model_validator

from stresskit.io.json_models import JsonInputError, read_json_object, validate

Number = float | int | bool | None

_EXPECTED = {
    "schema_version": "an integer",
    "scenario": "an object {name, file, description}",
    "name": "a string",
    "status": "one of pass, fail, error",
    "metrics": "an object of metric name -> number or null",
    "thresholds": "a list of threshold results",
    "workers": "a list of worker records",
    "expression": "a string",
    "ok": "true or false",
    "replica": "an integer",
    "seed": "an integer",
    "reports": "a list of run reports",
    "plan": "an object with the run's roles",
    "roles": "a list of {name, action, threads}",
    "points": "rows of numbers matching columns, t_s first",
    "buckets": "a list of [lower_ns, upper_ns, count] integers",
    "columns": "a list of column names",
    "errors": "a list of strings",
}


class _Open(BaseModel):
    # Newer stresskit versions may add keys: read what is known, keep the rest.
    model_config = ConfigDict(extra="allow", frozen=True)


class ScenarioRef(_Open):
    name: str
    file: str = ""
    description: str = ""


class ThresholdOutcome(_Open):
    """A scenario threshold, or a built-in check (``builtin``) the run is held to."""

    expression: str
    value: Any = None
    ok: StrictBool
    reason: str | None = None
    builtin: bool = False
    name: str | None = None
    skipped: bool = False


class ReplicaReport(_Open):
    """One worker process: how it ended, and what its replica found (``diagnostics``)."""

    replica: StrictInt
    pid: int | None = None
    status: str
    exitcode: int | None = None
    signal: str | None = None
    error: str | None = None
    peak_rss_bytes: int | None = None
    cpu_s: float | None = None
    elapsed_s: float | None = None
    stop_reason: str | None = None
    seed: int | None = None
    diagnostics: dict[str, Any] = {}
    dask: dict[str, Any] | None = None  # --executor dask: {worker, attempts, workers}


class NativeLibrary(_Open):
    """The native library a run loaded (``error`` when none could be): `replay` reruns with it."""

    path: str | None = None
    origin: str | None = None
    sha256: str | None = None
    glue_version: str | None = None
    mimalloc_version: str | None = None
    compiler: str | None = None
    optimized: bool | None = None
    system_allocator: str | None = None
    error: str | None = None


class PythonInfo(_Open):
    version: str | None = None
    implementation: str | None = None
    executable: str | None = None


class Environment(_Open):
    """Where a run happened and with what (stresskit/report/environment.py, its one producer)."""

    stresskit: str | None = None
    machine: dict[str, Any] = {}
    os: dict[str, Any] = {}
    python: PythonInfo = PythonInfo()
    native: NativeLibrary | None = None
    git_commit: str | None = None
    command_line: list[str] = []
    executor: dict[str, Any] | None = None  # only when replicas ran elsewhere (--executor dask)


class RolePlan(_Open):
    name: str
    action: str
    threads: StrictInt
    inbox: str | None = None
    outbox: str | None = None


class PlanView(_Open):
    roles: list[RolePlan]


class SeriesEntry(_Open):
    """A replica's time series: ``points`` are rows of ``columns`` (t_s first)."""

    replica: StrictInt
    columns: list[str]
    points: list[list[float | None]]

    @model_validator(mode="after")
    def _rows_match_columns(self) -> SeriesEntry:
        if not self.columns or self.columns[0] != "t_s" or any(len(p) != len(self.columns) or p[0] is None for p in self.points):
            raise ValueError("rows of numbers matching columns, t_s first")
        return self


class HistogramEntry(_Open):
    replica: StrictInt
    role: str
    op: str
    count: StrictInt
    buckets: list[tuple[StrictInt, StrictInt, StrictInt]]


class ProfileView(_Open):
    samples: StrictInt = 0
    work_samples: StrictInt = 0
    categories: dict[str, dict[str, float]] = {}
    speedscope_json: str | None = None
    flamegraph_svg: str | None = None
    problems: list[str] = []


class CellRef(_Open):
    """Which cell of a matrix a report is (stresskit/matrix): its index and swept values."""

    index: StrictInt
    params: dict[str, Any]


class _Written(_Open):
    """A document as stresskit wrote it, kept whole beside the typed view."""

    _data: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        """The JSON document exactly as stresskit wrote it (the report's full detail)."""
        return self._data


class Report(_Written):
    schema_version: StrictInt
    scenario: ScenarioRef
    status: str
    complete: bool = True
    interrupted: str | bool = False
    seed: int | None = None
    metrics: dict[str, Number]
    thresholds: list[ThresholdOutcome]
    workers: list[ReplicaReport]
    errors: list[str] = []
    plan: PlanView
    started_at: str | None = None
    elapsed_s: float | None = None
    unreclaimed_series: list[SeriesEntry] = []
    throughput_series: list[SeriesEntry] = []
    latency_histograms: list[HistogramEntry] = []
    profile: ProfileView | None = None
    environment: Environment = Environment()
    cell: CellRef | None = None
    soak: dict[str, Any] | None = None  # stresskit/soak: how the soak went, a summary per replica

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        report = cls.model_validate(data)
        report._data = data
        return report

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def replicas(self) -> list[ReplicaReport]:
        return self.workers

    @property
    def failed(self) -> list[ThresholdOutcome]:
        return [t for t in self.thresholds if not t.ok]

    @property
    def diagnostics(self) -> dict[int, dict[str, Any]]:
        """replica -> its diagnosis sections ("leaks", "corruption", ...), for replicas that have any."""
        return {w.replica: w.diagnostics for w in self.workers if w.diagnostics}

    @property
    def exit_code(self) -> int:
        """What `stresskit run` exits with for this report alone (docs/exit-codes.md)."""
        from stresskit.session import exit_code

        return exit_code(self.status, interrupted=self.interrupted or False)


class _Multi(_Open):
    reports: list[dict[str, Any]]


class MatrixInfo(_Open):
    keys: list[str]
    cells: StrictInt


class MatrixReport(_Written):
    """A matrix run (stresskit/matrix): one run Report per cell, each with its ``cell``."""

    schema_version: StrictInt
    status: str
    matrix: MatrixInfo
    reports: list[Report]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatrixReport:
        matrix = cls.model_validate(data)
        matrix._data = data
        for cell, doc in zip(matrix.reports, data["reports"]):
            cell._data = doc
        return matrix

    @property
    def cells(self) -> list[Report]:
        return self.reports

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def exit_code(self) -> int:
        """Any cell failing fails the matrix (1); an error or interruption outranks it."""
        from stresskit.session import exit_code

        interrupted = next((r.interrupted for r in self.reports if r.interrupted), False)
        return exit_code(self.status, interrupted=interrupted)


def is_matrix(data: dict[str, Any]) -> bool:
    return isinstance(data.get("matrix"), dict) and "reports" in data


def read_reports(path: Path | str) -> list[Report]:
    """Every run report in a file written by `stresskit run --json` (one scenario, or several
    under "reports"). Raises JsonInputError with one line naming the file and key."""
    path = Path(path)
    data = read_json_object(path, "report JSON file", "a JSON object written by `stresskit run --json`")
    docs = validate(path, data, _Multi, _EXPECTED).reports if "reports" in data and "scenario" not in data else [data]
    out = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise JsonInputError(f"{path}: reports[{i}]: expected a run report object")
        report = validate(f"{path}: reports[{i}]" if len(docs) > 1 else path, doc, Report, _EXPECTED)
        report._data = doc
        out.append(report)
    return out


__all__ = ["CellRef", "Environment", "JsonInputError", "MatrixReport", "NativeLibrary", "ReplicaReport", "Report", "ScenarioRef",
           "ThresholdOutcome", "read_reports"]
