"""Sanitizer log files -> a diagnosis: what went wrong, where (the stacks), and one-line summaries.

Each worker writes its own log (``log_path=<dir>/<replica>`` gives ``<dir>/<replica>.<pid>``);
ASAN and UBSAN stop at the first error (halt_on_error), TSAN goes on and writes one report per
race. The diagnosis is plain JSON (``workers[i].diagnostics.sanitizer`` in the report).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

LIB_MODULE = "libstresskit_native"
MAX_FRAMES = 16  # per stack in the diagnosis; the log keeps them all
SHOWN_FRAMES = 4  # per stack in the console's lines

_START = (
    re.compile(r"^==\d+==ERROR: (AddressSanitizer): (.*)$"),
    re.compile(r"^WARNING: (ThreadSanitizer): (.*?)(?: \(pid=\d+\))?$"),
    re.compile(r"^(.*?:\d+(?::\d+)?): (runtime error): (.*)$"),
)
_FRAME = re.compile(r"^\s*#(\d+)\s+(?:0x[0-9a-f]+\s+in\s+|0x[0-9a-f]+\s+)?(\S+)(?:\s+(.*?))?\s*$")
_MODULE = re.compile(r"\(([^()]*?)\+0x[0-9a-f]+\)")
_REGISTERS = re.compile(r" at pc 0x[0-9a-f]+ bp 0x[0-9a-f]+ sp 0x[0-9a-f]+")
# UBSAN's memory excerpt around the address: "0x..: note: pointer points here", hex bytes, a caret
_NOISE = re.compile(r"^\s*(?:\^|(?:[0-9a-f]{2}\s+){4,}.*|0x[0-9a-f]+: note: .*)\s*$")
_SUMMARY = re.compile(r"^SUMMARY: (\w+): (.*)$")


def _frame(match: re.Match[str]) -> dict[str, str]:
    rest = match.group(3) or ""
    module = _MODULE.search(rest) or _MODULE.search(match.group(2))
    location = _MODULE.sub("", rest).strip()
    function = match.group(2)
    if function.startswith("("):  # an unsymbolised frame: "(module+0x1234)"
        function = "??"
    return {"function": function, "location": location, "module": Path(module.group(1)).name if module else ""}


def _kind(sanitizer: str, text: str) -> str:
    """"heap-use-after-free" from "heap-use-after-free on address 0x...", "data race", ..."""
    if sanitizer == "UndefinedBehaviorSanitizer":
        return text.split(":")[0].split(" 0x")[0].strip()  # "misaligned address 0x5..." -> the kind
    return re.split(r" on (?:address|unknown address|0x)| of size ", text, maxsplit=1)[0].strip()


def parse(text: str) -> list[dict[str, Any]]:
    """Every report in one log, in order."""
    reports: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    header = ""
    for line in text.splitlines():
        started = None
        for pattern in _START:
            m = pattern.match(line)
            if m:
                started = m
                break
        if started is not None and (current is None or current.get("summary")):
            groups = started.groups()
            if groups[1] == "runtime error":
                sanitizer, message, where = "UndefinedBehaviorSanitizer", groups[2], groups[0]
            else:
                sanitizer, message, where = groups[0], groups[1], ""
            message = _REGISTERS.sub("", message).strip()  # " at pc 0x.. bp 0x.. sp 0x..": noise here
            current = {"sanitizer": sanitizer, "error": _kind(sanitizer, message), "message": message,
                       "where": where, "stacks": [], "summary": ""}
            reports.append(current)
            header = message.strip()
            continue
        if current is None:
            continue
        frame = _FRAME.match(line)
        if frame:
            if not current["stacks"] or current["stacks"][-1]["title"] != header or current["stacks"][-1].get("closed"):
                current["stacks"].append({"title": header, "frames": []})
            stack = current["stacks"][-1]
            if len(stack["frames"]) < MAX_FRAMES:
                stack["frames"].append(_frame(frame))
            continue
        if current["stacks"]:
            current["stacks"][-1]["closed"] = True
        summary = _SUMMARY.match(line)
        if summary:
            current["summary"] = line.strip()
            header = ""
        elif line.strip() and not line.startswith(("=", "Shadow", "  0x", "=>")) and not _NOISE.match(line):
            header = line.strip().rstrip(":")
    for report in reports:
        for stack in report["stacks"]:
            stack.pop("closed", None)
    return reports


_VG_PREFIX = re.compile(r"^==\d+== ?")
_VG_FRAME = re.compile(r"^\s+(?:at|by) 0x[0-9A-Fa-f]+: (.+?) \((.*)\)$")
_VG_PREAMBLE = ("Memcheck,", "Copyright", "Using Valgrind", "Command:", "Parent PID:", "HEAP SUMMARY", "ERROR SUMMARY",
                "For lists of", "For counts of", "LEAK SUMMARY", "Use --", "Rerun with")


def parse_valgrind(text: str) -> list[dict[str, Any]]:
    """Every error in a valgrind log: blocks separated by its empty "==PID== " lines."""
    reports: list[dict[str, Any]] = []
    blocks: list[list[str]] = [[]]
    for raw in text.splitlines():
        line = _VG_PREFIX.sub("", raw)
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    for block in blocks:
        # an error may follow valgrind's warnings and its "Thread N:" line without an empty line
        lines = [ln for ln in block if not re.match(r"^Thread \d+", ln)]
        while lines and lines[0].startswith("Warning:") and not _VG_FRAME.match(lines[0]):
            lines = lines[1:]
            while lines and _VG_FRAME.match(lines[0]):  # the warning's own stack
                lines = lines[1:]
        if not lines or lines[0].startswith(_VG_PREAMBLE) or not any(_VG_FRAME.match(ln) for ln in lines):
            continue
        report: dict[str, Any] = {"sanitizer": "Memcheck", "error": _kind("Memcheck", lines[0]), "message": lines[0].strip(),
                                  "where": "", "stacks": [], "summary": ""}
        title = lines[0].strip()
        for line in lines[1:]:
            frame = _VG_FRAME.match(line)
            if frame is None:
                title = line.strip()
                continue
            if not report["stacks"] or report["stacks"][-1]["title"] != title:
                report["stacks"].append({"title": title, "frames": []})
            where = frame.group(2)
            module = Path(where[3:]).name if where.startswith("in ") else ""
            if len(report["stacks"][-1]["frames"]) < MAX_FRAMES:
                report["stacks"][-1]["frames"].append({"function": frame.group(1), "location": "" if module else where,
                                                       "module": module})
        top = report["stacks"][0]["frames"][0]
        report["summary"] = f"{report['message']} in {top['function']} {top['location'] or top['module']}".rstrip()
        reports.append(report)
    return reports


def involves_library(report: dict[str, Any], sources: tuple[str, ...] = ()) -> bool:
    """A report with no frame in our library is the uninstrumented interpreter's business (e.g.
    CPython closing a pipe another thread reads, under TSAN; its own allocations, under memcheck).
    TSAN names each frame's module; valgrind names only files, so ``sources`` (the trees the
    library was built from) tell ours."""
    roots = tuple(r.rstrip("/") + "/" for r in sources if r)
    return any(LIB_MODULE in f["module"] or (roots and f["location"].startswith(roots))
               for s in report["stacks"] for f in s["frames"])


def diagnose(kind: str, logs: list[Path], sources: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The diagnosis for one worker's logs, or None when they hold no report that counts."""
    found: list[dict[str, Any]] = []
    ignored: list[str] = []
    for log in logs:
        text = log.read_text(errors="replace")
        for report in parse_valgrind(text) if kind == "memcheck" else parse(text):
            report["log"] = str(log)
            if kind in ("thread", "memcheck") and not involves_library(report, sources):
                ignored.append(report["summary"] or report["message"])
            else:
                found.append(report)
    if not found:
        return None
    first = found[0]
    return {
        "sanitizer": kind,
        "error": first["error"],
        "message": first["message"],
        "where": first["where"],
        "summary": first["summary"],
        "stacks": first["stacks"],
        "log": first["log"],
        "reports": len(found),
        "others": [r["summary"] or r["message"] for r in found[1:20]],
        "ignored": ignored[:20],
    }


def _short(location: str) -> str:
    """The last two path components: alloc.c's line is enough on a console, the log has the rest."""
    path, _, line = location.partition(":")
    parts = Path(path).parts
    return "/".join(parts[-2:]) + (f":{line}" if line else "") if parts else location


def summary_lines(diag: dict[str, Any]) -> list[str]:
    """The console's "why it failed" lines for a diagnosis from diagnose()."""
    more = f" (+{diag['reports'] - 1} more report(s))" if diag.get("reports", 1) > 1 else ""
    where = f" at {_short(diag['where'])}" if diag.get("where") else ""
    what = diag["message"] if diag["message"].startswith(diag["error"]) else f"{diag['error']}: {diag['message']}"
    label = "valgrind memcheck" if diag["sanitizer"] == "memcheck" else f"{diag['sanitizer']} sanitizer"
    lines = [f"{label}: {what}{where}{more}"]
    for stack in diag.get("stacks", [])[:3]:
        lines.append(f"  {stack['title']}:" if stack["title"] else "  stack:")
        for frame in stack["frames"][:SHOWN_FRAMES]:
            loc = _short(frame["location"]) if frame["location"] else frame["module"]
            lines.append(f"    {frame['function']} {loc}".rstrip())
    lines.append(f"  full report: {diag['log']}")
    return lines
