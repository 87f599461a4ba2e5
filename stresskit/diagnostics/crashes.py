"""Crashes: what a worker killed by a signal left behind (docs/diagnostics.md, "Crashes").

The worker opened two files in a directory the supervisor gave it (stresskit/runner/worker.py):
faulthandler's Python stacks of every thread and the engine's native backtrace of the faulting
thread (``sk_crash_handler_install``). :func:`collect` reads them after the death, names the
threads (the worker sent their names while it lived), symbolises native frames the dynamic
symbol table cannot name (the engine's static ``step_*`` functions) with ``addr2line``, and adds
each role's last reported progress: the report's ``workers[i].diagnostics.crash``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PYTHON_STACKS = "python-stacks.txt"
NATIVE_BACKTRACE = "native-backtrace.txt"
MAX_TEXT = 64 * 1024  # a runaway handler must not bloat the report
ADDR2LINE_TIMEOUT_S = 5.0

_THREAD = re.compile(r"^(Current thread|Thread) (0x[0-9a-fA-F]+)")
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]*)", line (?P<line>\d+) in (?P<func>\S+)')
# glibc's backtrace_symbols_fd: "module(symbol+0xoff) [0xaddr]" or "module(+0xoff) [0xaddr]"
_NATIVE = re.compile(r"^(?P<module>[^(\[]*)\((?P<sym>[^+)]*)(?:\+(?P<off>0x[0-9a-fA-F]+))?\)\s*\[(?P<addr>0x[0-9a-fA-F]+)\]")


def _read(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_TEXT).decode("utf-8", "replace")
    except OSError:
        return None


def python_threads(text: str, names: Mapping[int, str]) -> list[dict[str, Any]]:
    """faulthandler's dump as threads with names and frames (innermost first, as it writes)."""
    threads: list[dict[str, Any]] = []
    for line in text.splitlines():
        head = _THREAD.match(line)
        if head:
            ident = int(head.group(2), 16)
            threads.append({"ident": head.group(2), "name": names.get(ident, "?"),
                            "current": head.group(1) == "Current thread", "frames": []})
            continue
        frame = _FRAME.match(line)
        if frame and threads:
            threads[-1]["frames"].append(f"{frame['func']} ({frame['file']}:{frame['line']})")
    return threads


def native_frames(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The handler's header line and its frames, each symbolised where the symbol is missing."""
    header = ""
    frames: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("fatal signal"):
            header = line
            continue
        m = _NATIVE.match(line)
        if m:
            frames.append({"module": m["module"], "function": m["sym"] or None, "offset": m["off"], "raw": line})
    _symbolise(frames)
    # The handler's own frame, then the kernel's signal trampoline: name them for what they are.
    for i, f in enumerate(frames[:-1]):
        if f["function"] == "on_fatal":
            f["function"] = "on_fatal (stresskit's crash handler)"
            frames[i + 1]["function"] = "<signal frame>"
            break
    return header, frames


def _symbolise(frames: list[dict[str, Any]]) -> None:
    """Static functions are not in the dynamic symbol table: ask addr2line (symtab or debug
    info) for each module's unnamed offsets, one call per module. Return addresses point after
    the call, so offset - 1 is looked up."""
    exe = shutil.which("addr2line")
    if exe is None:
        return
    by_module: dict[str, list[dict[str, Any]]] = {}
    for f in frames:
        if f["function"] is None and f["offset"] and Path(f["module"]).is_file():
            by_module.setdefault(f["module"], []).append(f)
    for module, todo in by_module.items():
        offsets = [hex(max(0, int(f["offset"], 16) - 1)) for f in todo]
        try:
            out = subprocess.run([exe, "-f", "-e", module, *offsets], capture_output=True, text=True,
                                 timeout=ADDR2LINE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            continue
        lines = out.stdout.splitlines()
        for i, f in enumerate(todo):
            name = lines[2 * i] if 2 * i < len(lines) else "??"
            if name and name != "??":
                f["function"] = name


def collect(diag_dir: Path | None, signame: str | None, thread_names: Mapping[int, str],
            last_progress: Mapping[str, Any], view: Mapping[str, Any] | None) -> dict[str, Any]:
    """The report's ``diagnostics.crash`` for a worker that died of ``signame``."""
    out: dict[str, Any] = {"signal": signame}
    py_text = _read(diag_dir / PYTHON_STACKS) if diag_dir else None
    if py_text:
        threads = python_threads(py_text, thread_names)
        current = next((t for t in threads if t["current"]), None)
        out["faulting_thread"] = current["name"] if current else None
        out["python_stacks"] = {"ok": True, "threads": threads, "text": py_text}
    else:
        out["python_stacks"] = {"ok": False, "error": _missing("faulthandler", diag_dir, signame)}
    native_text = _read(diag_dir / NATIVE_BACKTRACE) if diag_dir else None
    if native_text and "fatal signal" in native_text:
        header, frames = native_frames(native_text)
        out["native_backtrace"] = {"ok": True, "header": header, "frames": frames, "text": native_text}
    else:
        reason = native_text.strip() if native_text else _missing("the engine's handler", diag_dir, signame)
        out["native_backtrace"] = {"ok": False, "error": reason}
    out["last_progress"] = dict(last_progress)
    if view is not None:
        out["last_states"] = {r["name"]: sorted({t["state"] for t in r["threads"]}) for r in view["roles"]}
    return out


def _missing(who: str, diag_dir: Path | None, signame: str | None) -> str:
    if diag_dir is None:
        return "no crash directory was set up for this worker"
    if signame == "SIGKILL":
        return f"{who} wrote nothing: SIGKILL cannot be caught (the OOM killer, kill -9)"
    return f"{who} wrote nothing (the worker died before installing it, or by an uncatchable signal)"


def summary_lines(diag: Mapping[str, Any]) -> list[str]:
    """A few lines for the console's "why it failed" block."""
    thread = diag.get("faulting_thread")
    lines = [f"crash: {diag.get('signal') or 'a signal'}" + (f" in thread {thread}" if thread else "")]
    native = diag.get("native_backtrace", {})
    if native.get("ok"):
        names = [f["function"] for f in native.get("frames", []) if f.get("function")]
        engine = [n for n in names if n.startswith(("step_", "sk_", "cc_"))]
        lines.append("native: " + " <- ".join((engine or names)[:4]))
    else:
        lines.append(f"no native backtrace: {native.get('error', 'unknown reason')}")
    progress = diag.get("last_progress") or {}
    if progress:
        lines.append("last progress: " + ", ".join(f"{k} {v:,}" for k, v in progress.items()))
    return lines
