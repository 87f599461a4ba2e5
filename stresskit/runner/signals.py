"""SIGTERM and SIGHUP end a run the way Ctrl-C does (docs/exit-codes.md).

Their handler raises ``Stopped``, a KeyboardInterrupt, so the one interrupt path (workers asked
to stop, results kept, report written complete) serves all three signals; ``signame`` says which
arrived and the exit code is 128 + its number (130, 143, 129), as a shell reports a process that
a signal ended.
"""

from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


def _raise(signum: int, frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


def install() -> dict[int, object]:
    """In the supervisor (main thread), for the rest of the command. Returns the previous
    handlers, for ``restore``."""
    return {sig: signal.signal(sig, _raise) for sig in STOP_SIGNALS}


def restore(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]


def name_of(exc: BaseException) -> str:
    return getattr(exc, "signame", "SIGINT")


def exit_code(signame: str) -> int:
    try:
        return 128 + signal.Signals[signame].value
    except KeyError:
        return 128 + signal.SIGINT.value


def described(signame: str) -> str:
    return "Ctrl-C (SIGINT)" if signame == "SIGINT" else signame
