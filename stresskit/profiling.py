"""py-spy sampling of worker processes: hotspots, a flamegraph SVG and a speedscope JSON per run.

Each worker gets ``py-spy record --pid PID --native --format raw`` (collapsed stacks: one line per
distinct stack, root first, frames joined by ';', then the sample count). The supervisor waits
for py-spy to report that it is sampling before it lets the worker start the replica, so short
replicas are profiled too. From the stacks of all workers:
  * categories (stresskit/profile_classes.py): work, idle back-off, start-up, harness, each with
    its share of all samples;
  * hotspots: per frame (function + file, line numbers merged), self % (the frame was the leaf)
    and inclusive % (the frame was anywhere on the stack), over the work samples only, and the top
    cc_*, mi_* and engine (sk_*, step_*) frames among them;
  * speedscope JSON (https://www.speedscope.app/file-format-schema.json), one sampled profile per
    worker, in milliseconds (each sample weighs one sampling interval);
  * a flamegraph SVG (icicle layout, root at the bottom), merged over workers.
If py-spy is missing or cannot attach (no ptrace rights, unsupported platform), the run goes on
and ``problems`` says why; the report shows it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from stresskit.io.outputs import WriteFailed, write_atomic
from stresskit.profile_classes import by_family, glue_frames, shares, split

DEFAULT_RATE = 97  # Hz: modest, and not a multiple of common timer periods
FAMILY_TOP = 5
# Not part of the speedscope schema (speedscope ignores it): lets stresskit.html.flame turn the
# millisecond weights back into whole samples.
INTERVAL_KEY = "stresskitSampleIntervalMs"
ATTACH_TIMEOUT_S = 10.0
_RAW_ADDRESS = re.compile(r"^0x[0-9a-f]+ ")
_FRAME_LINE = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass
class Hotspot:
    frame: str
    self_pct: float
    inclusive_pct: float
    native: bool

    def to_json(self) -> dict[str, object]:
        return {"frame": self.frame, "self_pct": round(self.self_pct, 2), "inclusive_pct": round(self.inclusive_pct, 2), "native": self.native}


@dataclass
class ProfileReport:
    samples: int = 0
    work_samples: int = 0
    categories: dict[str, dict[str, float | int]] = field(default_factory=dict)
    hotspots: list[Hotspot] = field(default_factory=list)
    top_frames: dict[str, list[Hotspot]] = field(default_factory=dict)
    flamegraph_svg: str | None = None
    speedscope_json: str | None = None
    raw_files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "samples": self.samples,
            "work_samples": self.work_samples,
            "categories": self.categories,
            "hotspots": [h.to_json() for h in self.hotspots],
            "top_frames": {fam: [h.to_json() for h in hs] for fam, hs in self.top_frames.items()},
            "flamegraph_svg": self.flamegraph_svg,
            "speedscope_json": self.speedscope_json,
            "problems": self.problems,
        }


def frame_key(frame: str) -> str:
    """'mi_malloc (alloc.c:12)' -> 'mi_malloc (alloc.c)': lines of one function count together;
    unsymbolised addresses ('0x7f.. (libc.so.6)') differ per process and become '[unknown] (libc.so.6)'."""
    frame = _RAW_ADDRESS.sub("[unknown] ", frame.strip())
    m = _FRAME_LINE.match(frame)
    if not m:
        return frame.strip()
    return f"{m.group('func')} ({m.group('file')})"


def is_native(frame: str) -> bool:
    """py-spy marks Python frames with a .py file; anything else (C files, shared objects,
    raw addresses) is native."""
    m = _FRAME_LINE.match(frame.strip())
    return not (m and (m.group("file").endswith(".py") or m.group("file").startswith("<")))


def read_collapsed(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks[tuple(frame_key(f) for f in stack.split(";"))] += int(count)
    return stacks


def _ranked(stacks: Counter[tuple[str, ...]]) -> tuple[int, list[Hotspot]]:
    total = sum(stacks.values())
    if total == 0:
        return 0, []
    self_c: Counter[str] = Counter()
    incl_c: Counter[str] = Counter()
    for stack, n in stacks.items():
        self_c[stack[-1]] += n
        for frame in set(stack):
            incl_c[frame] += n
    # Rank by self time, then inclusive: the frames where the time is actually spent first.
    ranked = sorted(incl_c, key=lambda f: (-self_c[f], -incl_c[f], f))
    return total, [Hotspot(f, 100 * self_c[f] / total, 100 * incl_c[f] / total, is_native(f)) for f in ranked]


def hotspots(stacks: Counter[tuple[str, ...]], top: int = 15) -> tuple[int, list[Hotspot]]:
    total, ranked = _ranked(stacks)
    return total, ranked[:top]


def top_frames(stacks: Counter[tuple[str, ...]], top: int = FAMILY_TOP) -> dict[str, list[Hotspot]]:
    """The top glue (cc_*), mi_* and engine frames of STACKS, each ranked as hotspots are: a frame
    that is never a leaf still shows here by its inclusive share."""
    _, ranked = _ranked(stacks)
    spots = {h.frame: h for h in ranked}
    return {fam: [spots[f] for f in frames[:top]] for fam, frames in by_family(spots, glue_frames(spots)).items()}


def summarise(stacks: Counter[tuple[str, ...]], report: ProfileReport) -> None:
    """Fill REPORT's sample counts, categories and work-only hotspots from all workers' stacks."""
    parts = split(stacks)
    report.samples = sum(stacks.values())
    report.categories = shares(parts)
    report.work_samples, report.hotspots = hotspots(parts["work"])
    report.top_frames = top_frames(parts["work"])


def speedscope(per_worker: dict[str, Counter[tuple[str, ...]]], name: str, rate: int = DEFAULT_RATE) -> dict[str, object]:
    interval_ms = 1000.0 / rate
    frames: list[dict[str, object]] = []
    index: dict[str, int] = {}
    profiles = []
    for worker, stacks in per_worker.items():
        samples, weights = [], []
        for stack, n in stacks.items():
            ids = []
            for f in stack:
                if f not in index:
                    index[f] = len(frames)
                    m = _FRAME_LINE.match(f)
                    frames.append({"name": m.group("func"), "file": m.group("file")} if m else {"name": f})
                ids.append(index[f])
            samples.append(ids)
            weights.append(round(n * interval_ms, 6))
        profiles.append({
            "type": "sampled", "name": worker, "unit": "milliseconds", "startValue": 0,
            "endValue": round(sum(stacks.values()) * interval_ms, 6), "samples": samples, "weights": weights,
            INTERVAL_KEY: interval_ms,
        })
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": profiles,
        "name": name,
        "exporter": "stresskit",
        "activeProfileIndex": 0,
    }


def flamegraph_svg(stacks: Counter[tuple[str, ...]], title: str, width: int = 1200) -> str:
    """A static flamegraph: each frame a box as wide as its inclusive samples, callees above it.
    Hover a box for its full name and share (SVG <title>)."""
    total = sum(stacks.values())
    root: dict = {"n": 0, "kids": {}}
    for stack, n in stacks.items():
        node = root
        node["n"] += n
        for frame in stack:
            node = node["kids"].setdefault(frame, {"n": 0, "kids": {}})
            node["n"] += n
    boxes: list[tuple[str, float, int, float, int]] = []  # frame, x, depth, width, samples
    scale = (width - 20) / total if total else 0.0

    def lay(node: dict, x: float, depth: int) -> None:
        for frame in sorted(node["kids"]):
            kid = node["kids"][frame]
            w = kid["n"] * scale
            boxes.append((frame, x, depth, w, kid["n"]))
            lay(kid, x, depth + 1)
            x += w

    lay(root, 10.0, 1)
    row_h, top = 16, 30
    height = top + row_h * (max((b[2] for b in boxes), default=0) + 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">',
        f'<text x="10" y="18" font-size="14">{html.escape(title)}: {total} samples (orange: native, blue: Python)</text>',
    ]
    for frame, x, depth, w, n in boxes:
        y = height - row_h * depth
        hue = 25 if is_native(frame) else 205
        fits = int(w / 7)
        label = frame if len(frame) <= fits else (frame[: fits - 2] + ".." if fits > 3 else "")
        out.append(
            f'<g><title>{html.escape(frame)} ({n} samples, {100 * n / total:.1f}%)</title>'
            f'<rect x="{x:.1f}" y="{y}" width="{max(w, 0.5):.1f}" height="{row_h - 1}" fill="hsl({hue},70%,60%)"/>'
            f'<text x="{x + 2:.1f}" y="{y + 12}">{html.escape(label)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


PY_SPY_ENV = "STRESSKIT_PY_SPY"


def py_spy() -> str | None:
    """The py-spy executable: $STRESSKIT_PY_SPY if set (another install, or a wrapper that adds
    sudo), else py-spy on PATH."""
    explicit = os.environ.get(PY_SPY_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("py-spy")


class Profiler:
    """Attach py-spy to workers as they start; after the run, turn the samples into a report."""

    @staticmethod
    def files(name: str) -> tuple[str, str]:
        """The files a run named NAME writes in the profile directory (besides py-spy's raw
        per-worker files): checked before the run (stresskit.io.outputs.claim_dir)."""
        return f"{name}.flamegraph.svg", f"{name}.speedscope.json"

    def __init__(self, out_dir: Path, name: str, rate: int = DEFAULT_RATE) -> None:
        self.out_dir = Path(out_dir)
        self.name = name
        self.rate = rate
        self.problems: list[str] = []
        self.spies: list[tuple[str, subprocess.Popen[bytes], Path, list[str]]] = []
        self.exe = py_spy()
        if self.exe is None:
            where = f"${PY_SPY_ENV}={os.environ[PY_SPY_ENV]} is not an executable" if os.environ.get(PY_SPY_ENV) else "py-spy is not installed (pip install py-spy)"
            self.problems.append(f"{where}; no hotspots")

    def attach(self, pid: int, replica: int) -> None:
        if self.exe is None:
            return
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.problems.append(f"replica {replica}: {self.out_dir}: {exc.strerror or exc}; not profiled")
            return
        raw = self.out_dir / f"{self.name}-replica{replica}-{pid}.collapsed.txt"
        cmd = [self.exe, "record", "--pid", str(pid), "--native", "--format", "raw", "--rate", str(self.rate), "-o", str(raw)]
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except OSError as exc:
            self.problems.append(f"replica {replica}: could not start py-spy: {exc}")
            return
        lines: list[str] = []
        sampling = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for raw_line in proc.stdout:
                text = raw_line.decode(errors="replace").strip()
                if text:
                    lines.append(text)
                if "Sampling process" in text:
                    sampling.set()

        threading.Thread(target=read, name=f"py-spy-reader-{pid}", daemon=True).start()
        end = time.monotonic() + ATTACH_TIMEOUT_S
        while not sampling.is_set() and proc.poll() is None and time.monotonic() < end:
            sampling.wait(0.05)
        if not sampling.is_set():
            time.sleep(0.1)  # let the reader catch py-spy's last words
            why = next((ln for ln in lines if ln.startswith("Error") or "ermission" in ln), lines[0] if lines else "no output")
            self.problems.append(f"replica {replica}: py-spy could not attach to pid {pid}: {why}")
        self.spies.append((f"replica {replica} (pid {pid})", proc, raw, lines))

    def finish(self, timeout: float = 20.0) -> ProfileReport:
        report = ProfileReport(problems=list(self.problems))
        per_worker: dict[str, Counter[tuple[str, ...]]] = {}
        for label, proc, raw, lines in self.spies:
            try:
                proc.wait(timeout=timeout)  # py-spy stops when its worker exits
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                report.problems.append(f"{label}: py-spy did not finish; killed")
            if raw.is_file():
                per_worker[label] = read_collapsed(raw)
                report.raw_files.append(str(raw))
            elif not any(label.split(" (")[0] in p for p in report.problems):
                report.problems.append(f"{label}: py-spy wrote no samples ({lines[-1] if lines else 'no output'})")
        merged: Counter[tuple[str, ...]] = Counter()
        for stacks in per_worker.values():
            merged.update(stacks)
        summarise(merged, report)
        if merged:
            svg_name, ss_name = self.files(self.name)
            svg, ss = self.out_dir / svg_name, self.out_dir / ss_name
            try:
                write_atomic(svg, flamegraph_svg(merged, f"stresskit {self.name}"), "--profile-dir")
                report.flamegraph_svg = str(svg)
                write_atomic(ss, json.dumps(speedscope(per_worker, f"stresskit {self.name}", self.rate)), "--profile-dir")
                report.speedscope_json = str(ss)
            except WriteFailed as exc:
                report.problems.append(exc.line())
        elif self.exe is not None and not report.problems:
            report.problems.append("py-spy collected no samples")
        return report


def can_attach(timeout: float = 15.0) -> tuple[bool, str]:
    """A real check for `doctor`: start a Python child and ask py-spy to dump its stack."""
    import sys

    exe = py_spy()
    if exe is None:
        return False, "py-spy is not installed (pip install py-spy)"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = subprocess.run([exe, "dump", "--pid", str(child.pid), "--native"], capture_output=True, text=True, timeout=timeout)
        if out.returncode == 0 and "sleep" in out.stdout:
            return True, "attached to a child process and read its native stack"
        text = (out.stderr or out.stdout).strip().splitlines()
        return False, (text[0] if text else f"py-spy dump exited with {out.returncode}")
    except subprocess.TimeoutExpired:
        return False, "py-spy dump did not answer in time"
    finally:
        child.kill()
        child.wait()
