"""Every file stresskit reads for the user (scenarios, bench --input/--compare baselines) goes
through ``read_bounded``: the limits below are the one definition (docs/scenarios.md, "Limits",
quotes them; tests/faults checks the two agree).

* regular files only: a FIFO, device or directory is refused without blocking (opened with
  O_NONBLOCK, then fstat), so ``/dev/zero`` is never read and a FIFO never waited on;
* the size is checked before reading, and the read itself stops one byte past the limit (a file
  that grows while it is read cannot exhaust memory);
* TOML is pre-scanned (``check_toml_shape``) before it is parsed: tomllib's cost grows with the
  square of a dotted key's depth (20 000 levels in 40 KB took 2.4 GB and 7.7 s), so depth and
  key count are bounded first.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

MAX_SCENARIO_BYTES = 1 << 20  # 1 MiB: the largest shipped scenario is under 2 KiB
MAX_BASELINE_BYTES = 16 << 20  # 16 MiB: a full `bench --json` run is about 100 KiB
MAX_TOML_DEPTH = 32  # tables, arrays, inline tables and dotted-key parts nested in one key
MAX_TOML_KEYS = 10_000  # key/value pairs and table headers in one file
MAX_JSON_DEPTH = 64  # nesting of a bench baseline (a real one nests 4 deep)
MAX_REPORT_BYTES = 256 << 20  # a run report read back (`replay`): 64 replicas with full series are ~20 MiB

_READ_CHUNK = 1 << 16


class InputError(Exception):
    """A file that cannot be read as input. ``expected``/``got`` complete the one-line message
    ``PATH: expected (got X)`` each caller formats its own way."""

    def __init__(self, path: str | Path, expected: str, got: str | None = None) -> None:
        self.path, self.expected, self.got = str(path), expected, got
        super().__init__(f"{self.path}: {expected}" + (f" (got {got})" if got else ""))


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or InputError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise InputError(path, f"an existing {what} (no such file)") from None
    except PermissionError:
        raise InputError(path, f"a readable {what} (permission denied)") from None
    except OSError as exc:
        raise InputError(path, f"a readable {what} ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(path, f"a regular {what}, not {_kind(st.st_mode)}")
        if st.st_size > limit:
            raise InputError(path, f"a {what} of at most {_size(limit)}", f"{st.st_size} bytes")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(_READ_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise InputError(path, f"a {what} of at most {_size(limit)}", "a file that grew past it while read")
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(path, f"a readable {what} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n >> 10} KiB"


# Strings and comments are skipped whole (their dots and brackets are not structure); what is
# left is the structure: brackets, '=', ',', '.', newlines.
_TOML_TOKEN = re.compile(
    r'"""(?:\\.|[^\\])*?"""|\'\'\'.*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'[^\'\n]*\'|#[^\n]*|[\n\[\]{}=,.]',
    re.S,
)


class TomlShapeError(ValueError):
    def __init__(self, line: int, expected: str) -> None:
        self.line, self.expected = line, expected
        super().__init__(f"line {line}: {expected}")


def check_toml_shape(text: str, max_depth: int = MAX_TOML_DEPTH, max_keys: int = MAX_TOML_KEYS) -> None:
    """Raise TomlShapeError if a key nests deeper than ``max_depth`` (header or dotted-key parts
    plus enclosing brackets) or the file has more than ``max_keys`` keys. Linear in the text;
    stops at the first excess. Errs on the side of counting (an unterminated string's dots may
    count): anything it lets through is cheap for tomllib."""
    stack: list[str] = []  # 'h' table header, '[' array, '{' inline table
    in_key = True
    key_dots = 0
    keys = 0
    line = 1

    def over(extra: int) -> bool:
        return len(stack) + key_dots + extra > max_depth

    for m in _TOML_TOKEN.finditer(text):
        tok = m.group()
        c = tok[0]
        if c in "\"'":
            line += tok.count("\n")
            continue
        if c == "#":
            continue
        if c == "\n":
            line += 1
            if not stack or stack[-1] == "h":
                stack.clear()
                in_key, key_dots = True, 0
        elif c == ".":
            if in_key or (stack and stack[-1] == "h"):
                key_dots += 1
                if over(1):
                    raise TomlShapeError(line, f"keys nested at most {max_depth} levels deep (tables, dotted keys and brackets together)")
        elif c == "[":
            stack.append("h" if in_key and (not stack or stack[-1] == "h") else "[")
            if over(0):
                raise TomlShapeError(line, f"at most {max_depth} nested tables or arrays")
        elif c == "]":
            if stack:
                if stack.pop() == "h" and (not stack or stack[-1] != "h"):
                    keys += 1
                    key_dots = 0
        elif c == "{":
            stack.append("{")
            in_key, key_dots = True, 0
            if over(0):
                raise TomlShapeError(line, f"at most {max_depth} nested tables or arrays")
        elif c == "}":
            if stack:
                stack.pop()
            in_key = False
        elif c == ",":
            if stack and stack[-1] == "{":
                in_key, key_dots = True, 0
        elif c == "=":
            if in_key:
                keys += 1
                in_key = False
        if keys > max_keys:
            raise TomlShapeError(line, f"at most {max_keys} keys in one file")


_JSON_STRUCT = re.compile(r'"(?:\\.|[^"\\])*"|[\[\]{}]')


def json_depth(text: str) -> int:
    """Bracket nesting outside strings, counted before parsing: json.loads recurses per level."""
    depth = deepest = 0
    for m in _JSON_STRUCT.finditer(text):
        c = m.group()[0]
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def read_json(path: str | Path, limit: int, what: str, max_depth: int = MAX_JSON_DEPTH) -> object:
    """A JSON document from a bounded regular file, or InputError saying where it went wrong
    (a truncated file: the line and column where the text ends)."""
    text_bytes = read_bounded(path, limit, what)
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"UTF-8 JSON (byte {exc.start} is not UTF-8)") from None
    depth = json_depth(text)
    if depth > max_depth:
        raise InputError(path, f"JSON nested at most {max_depth} levels", str(depth))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"a complete JSON {what} (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise InputError(path, f"JSON nested at most {max_depth} levels") from None
