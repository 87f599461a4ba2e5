"""Every file stresskit writes for the user (run --json, --profile-dir, bench --json/--plot/
--markdown) goes through here, so one set of rules holds everywhere (docs/files.md):

* checked before any work starts (``claim_file``/``claim_dir`` raise OutputError, exit 2): a
  regular file or a new path, never a device, FIFO, socket or directory, never a file the same
  command reads (scenario, baseline), never a symbolic link (a link is refused rather than
  followed: as root, following a planted link would let anyone who can write the directory
  choose which file gets replaced);
* the parent directories are created and a file is created and removed in them, so a read-only
  mount or a file used as a directory fails there, with the OS error, not after the run;
* claimed with an advisory ``flock`` on a sidecar ``.NAME.lock`` (for a directory:
  ``DIR/.stresskit.lock``), held until the process exits: a second run given the same path is
  refused at once instead of the two silently replacing each other's files;
* written atomically (``write_atomic``: ``.NAME.PID.tmp`` + fsync + rename): the file on disk is
  always the last version written whole; a failed write (disk full) removes its temporary file
  and raises WriteFailed naming the path.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import stat
from collections.abc import Iterable
from pathlib import Path

LOCK_SUFFIX = ".lock"
DIR_LOCK_NAME = ".stresskit.lock"


class OutputError(Exception):
    """An output path that cannot be used: the user's to fix, before anything ran (exit 2)."""

    def __init__(self, option: str, path: str | Path, why: str) -> None:
        self.option, self.path, self.why = option, str(path), why
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.option} {shown(self.path)}: {self.why}"


class WriteFailed(Exception):
    """Writing an output failed after work was done (disk full, I/O error): exit 3.
    ``reason`` is the OS error alone; ``why`` adds what the file on disk still holds."""

    def __init__(self, option: str, path: str | Path, why: str, reason: str = "", errno: int | None = None) -> None:
        self.option, self.path, self.why = option, str(path), why
        self.reason, self.errno = reason or why, errno
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.option} {shown(self.path)}: could not write it: {self.why}"


def shown(path: str | Path) -> str:
    text = str(path)
    return text if text and not any(c.isspace() for c in text) else repr(text)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None  # a parent is a file: reported by _make_parent with its name


# -- locks held until the process exits ---------------------------------------------------------
_HELD: dict[str, tuple[int, str]] = {}  # lock file -> (fd, option that claimed it)
_CLAIMED: dict[str, str] = {}  # real path of an output -> option that claimed it
_CREATED: list[Path] = []  # directories a claim created: removed at release if nothing was written


def release_all() -> None:
    """Give up every claim (at exit; or when a command run in-process, as tests do, ends)."""
    _release_all()


def _release_all() -> None:
    for lock_path, (fd, _) in list(_HELD.items()):
        try:
            # Unlinked while still locked, and only if it is still ours: a run that opened the
            # old file and locks it after us sees it is no longer at that path and retries.
            if os.path.samestat(os.fstat(fd), os.stat(lock_path)):
                os.unlink(lock_path)
        except OSError:
            pass
        os.close(fd)
        del _HELD[lock_path]
    _CLAIMED.clear()
    # A profile directory made for a run that wrote nothing into it (interrupted before the
    # profiler had samples, py-spy missing) would be left empty: it was never the user's.
    while _CREATED:
        try:
            os.rmdir(_CREATED.pop())
        except OSError:
            pass  # not empty (or gone): it is kept


atexit.register(_release_all)


def _holder(lock_path: str) -> str:
    try:
        with open(lock_path, encoding="ascii", errors="replace") as fh:
            pid = fh.read(32).strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


def _lock(option: str, shown_path: str | Path, lock_path: str) -> None:
    if lock_path in _HELD:
        return
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    for _ in range(10):
        try:
            fd = os.open(lock_path, flags, 0o644)
        except OSError as exc:
            raise OutputError(option, shown_path, f"cannot write in {os.path.dirname(lock_path) or '.'}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(option, shown_path, f"in use by another stresskit run{_holder(lock_path)}; wait for it to end or choose another path") from None
        except OSError:
            os.close(fd)  # a file system without locks: go on unlocked rather than refuse to run
            return
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            _HELD[lock_path] = (fd, option)
            try:  # who holds it, for the message of a run refused; a full disk may refuse it
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                pass
            return
        os.close(fd)  # its previous holder removed it between our open and our lock: retry
    raise OutputError(option, shown_path, "its lock file keeps changing; another stresskit run is using it")


# -- checks ---------------------------------------------------------------------------------------
def _require_path(option: str, path: str | Path | None) -> Path:
    if path is None or not str(path).strip():
        raise OutputError(option, "" if path is None else path, "expected a file path (got an empty string)")
    return Path(path)


def _make_dir(option: str, shown_path: str | Path, directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a symlink or file where a directory must be
        raise OutputError(option, shown_path, f"{exc.filename or directory} is not a directory") from None
    except NotADirectoryError:
        blocker = next((p for p in (directory, *directory.parents) if p.exists() and not p.is_dir()), directory)
        raise OutputError(option, shown_path, f"{blocker} is not a directory") from None
    except OSError as exc:
        raise OutputError(option, shown_path, f"cannot create directory {exc.filename or directory}: {exc.strerror}") from None
    if not directory.is_dir():
        raise OutputError(option, shown_path, f"{directory} is not a directory")


def _probe(option: str, shown_path: str | Path, directory: Path) -> None:
    """Create and remove a file: the only reliable test of "can write here" (root passes every
    access() check on a read-only mount; a full disk only shows when a file is created)."""
    probe = directory / f".stresskit-probe.{os.getpid()}.tmp"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(option, shown_path, f"cannot write in {directory}: {exc.strerror}") from None


def _remove_stale_temps(directory: Path, name: str) -> None:
    """Temporary files of runs that were SIGKILLed mid-write (we hold the lock: nobody else
    writes them now). Only ones whose process is gone."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    prefix = f".{name}."
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        pid = entry[len(prefix):-4]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            try:
                os.unlink(directory / entry)
            except OSError:
                pass
        except OSError:
            pass


def check_file(option: str, path: str | Path | None, *, inputs: Iterable[str | Path] = (), lock: bool = True) -> Path:
    """Refuse what must not be written over; create the parent directories; with ``lock``,
    claim the path for this process. Returns the path to write."""
    path = _require_path(option, path)
    st = _lstat(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        why = _kind(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(option, path, f"expected a regular file or a new path, not a symbolic link (stresskit does not write through links; give {os.path.realpath(path)} itself)")
        raise OutputError(option, path, f"expected a regular file or a new path, not {why}")
    if st is not None:
        for given in inputs:
            try:
                if os.path.samestat(st, os.stat(given)):
                    raise OutputError(option, path, f"expected a path other than {given}, which this command reads")
            except OSError:
                continue
    if path.name in ("", ".", ".."):
        raise OutputError(option, path, "expected a file path, not a directory")
    parent = path.parent
    _make_dir(option, path, parent)
    key = os.path.join(os.path.realpath(parent), path.name)
    other = _CLAIMED.get(key)
    if other is not None and other != option:
        raise OutputError(option, path, f"is also the path given to {other}; give each output its own path")
    if lock:
        _probe(option, path, parent)
        _lock(option, path, str(parent / f".{path.name}{LOCK_SUFFIX}"))
        _remove_stale_temps(parent, path.name)
    _CLAIMED[key] = option
    return path


def claim_file(option: str, path: str | Path | None, *, inputs: Iterable[str | Path] = ()) -> Path:
    return check_file(option, path, inputs=inputs, lock=True)


def claim_dir(option: str, path: str | Path | None, files: Iterable[str] = ()) -> Path:
    """A directory to write ``files`` (and others named at run time) into: created if absent,
    writable, locked; each of ``files`` passes check_file's rules."""
    path = _require_path(option, path)
    st = _lstat(path)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise OutputError(option, path, f"expected a directory, not a symbolic link (stresskit does not write through links; give {os.path.realpath(path)} itself)")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise OutputError(option, path, f"expected a directory or a new path, not {_kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else 'a regular file'}")
    _make_dir(option, path, path)
    if st is None and path not in _CREATED:
        _CREATED.append(path)
    _probe(option, path, path)
    _lock(option, path, str(path / DIR_LOCK_NAME))
    for name in files:
        check_file(option, path / name, lock=False)
    return path


# -- writing ---------------------------------------------------------------------------------------
def write_atomic(path: str | Path, data: str | bytes, option: str = "output") -> None:
    """Replace PATH with DATA whole, or leave it as it was and raise WriteFailed. No temporary
    file survives, whatever interrupts the write (disk full, a signal, an exception)."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    st = _lstat(path)
    if st is not None and not stat.S_ISREG(st.st_mode):  # it changed since the start of the run
        raise WriteFailed(option, path, f"it is now {_kind(st.st_mode)}; not replaced")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = -1
    try:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            why = reason + (f"; {path} still holds the last version written whole" if path.exists() else "")
            raise WriteFailed(option, path, why, reason, exc.errno) from None
        raise
