"""Where the numbers were measured: CPU, cores, load, and what the library was built with."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from pathlib import Path


def cpu_model() -> str:
    """The CPU's marketing name: /proc/cpuinfo on Linux (instant), else py-cpuinfo, else platform."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        text = ""
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    brand = None
    try:
        import cpuinfo  # py-cpuinfo: slow (it may spawn a process), so only as a fallback

        brand = cpuinfo.get_cpu_info().get("brand_raw")
    except Exception:  # noqa: BLE001 - any failure here just means "unknown"
        brand = None
    return str(brand or platform.processor() or platform.machine() or "unknown")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


SYSFS_CPU = Path("/sys/devices/system/cpu")


def parse_cpu_list(text: str) -> set[int]:
    """A kernel CPU list (``0-3,8,10-11``) as a set; ValueError if it is not one."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if first < 0 or last < first:
            raise ValueError(f"not a CPU range: {part!r}")
        cpus.update(range(first, last + 1))
    return cpus


def core_siblings(cpu: int, root: Path | None = None) -> set[int]:
    """The CPUs that share `cpu`'s core (SMT siblings, `cpu` included), from sysfs (`root`,
    default SYSFS_CPU); just {cpu} where the topology cannot be read (not Linux, a container
    without sysfs)."""
    root = SYSFS_CPU if root is None else root
    try:
        return parse_cpu_list((root / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text()) | {cpu}
    except (OSError, ValueError):
        return {cpu}


def probe_cpus(allowed: set[int], root: Path | None = None) -> tuple[list[int], bool] | None:
    """The two CPUs the hand-off probe should use: the first usable one and the first usable one
    on another core, and whether they share a core after all (every usable CPU is on the first
    one's core). None with fewer than two usable CPUs. The native probe itself takes the first two
    CPUs it may run on, which on some machines are two SMT threads of one core: a round trip
    through that core's own cache, not the one a producer and a consumer on two cores pay."""
    cpus = sorted(allowed)
    if len(cpus) < 2:
        return None
    siblings = core_siblings(cpus[0], root)
    other = next((c for c in cpus[1:] if c not in siblings), None)
    return ([cpus[0], cpus[1]], True) if other is None else ([cpus[0], other], False)


def handoff_latency(round_trips: int = 2000, batches: int = 9) -> dict:
    """The machine's cross-core hand-off round trip (sk_bench_handoff, native/include/
    sk_bench_engine.h): ``round_trip_ns`` (median batch), ``min_ns``, ``max_ns``, the two ``cpus``
    it ran on (two cores where the machine has them: probe_cpus) and ``same_core`` (they are SMT
    siblings: every usable CPU is on one core), or ``error`` saying why it was not measured (one
    usable CPU, not Linux, a library without the probe). ~10 ms at 0.4 us per round trip. Every producer -> consumer rate
    scales with it, and on a VM it changes when the host moves the vCPUs, so two runs' rates are
    comparable only when their round trips are."""
    import errno

    from stresskit import _native

    try:
        loaded = _native.load()
    except _native.NativeLibraryError as exc:
        return {"error": str(exc)}
    fn = getattr(loaded.lib, "sk_bench_handoff", None)
    if fn is None:
        return {"error": f"the native library {loaded.path} has no sk_bench_handoff: rebuild it"}
    out = loaded.ffi.new("sk_handoff_result_t *")
    allowed = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
    first_two = sorted(allowed)[:2]  # what the native probe pins to unless narrowed
    choice = probe_cpus(allowed)
    narrowed = False
    if choice is not None and choice[0] != first_two:
        try:  # make the chosen pair the first two CPUs the probe may use
            os.sched_setaffinity(0, set(choice[0]))
            narrowed = True
        except OSError:  # a cpuset that changed under us: probe the first two after all
            choice = (first_two, first_two[1] in core_siblings(first_two[0]))
    try:
        rc = fn(round_trips, batches, out)
    finally:
        if narrowed:
            with contextlib.suppress(OSError):  # the set was ours a moment ago; nothing to report
                os.sched_setaffinity(0, allowed)
    if rc == errno.ENOTSUP:
        return {"error": "needs two usable CPUs that threads can be pinned to"}
    if rc == errno.ETIMEDOUT:
        return {"error": "gave up after 250 ms: the two CPUs were busy with other work"}
    if rc != 0:
        return {"error": f"sk_bench_handoff failed: {os.strerror(rc)} (errno {rc})"}
    return {"round_trip_ns": round(out.round_trip_ns, 1), "min_ns": round(out.min_round_trip_ns, 1),
            "max_ns": round(out.max_round_trip_ns, 1), "cpus": [int(out.cpu_a), int(out.cpu_b)],
            "same_core": bool(choice and choice[1])}


# Round trips further apart than this are two machines for a rate (stresskit compare uses the
# same bound). On this VM the probe read 62-136 ns in the host's fast minutes and 357-424 ns in its
# slow ones (one run: 70 ns before, 402 after); within a minute it repeats within ~20 %.
HANDOFF_APART = 2.0


def round_trips(machine: object) -> list[float]:
    """The round trips of a ``machine`` record (a bench run's, or a report's environment.machine):
    ``handoff_before`` then ``handoff_after``, those that were measured."""
    if not isinstance(machine, dict):
        return []
    values = []
    for key in ("handoff_before", "handoff_after"):
        probe = machine.get(key)
        value = probe.get("round_trip_ns") if isinstance(probe, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            values.append(float(value))
    return values


def apart(values: list[float]) -> bool:
    """Whether round trips are more than HANDOFF_APART x apart (two machines for a rate)."""
    return len(values) >= 2 and max(values) / min(values) > HANDOFF_APART


def handoff_changed(machine: object) -> str | None:
    """Why a bench run's rows that hand blocks between cores straddle two machines, or None: its
    ``handoff_before`` and ``handoff_after`` round trips are more than HANDOFF_APART x apart."""
    values = round_trips(machine)
    if len(values) == 2 and apart(values):
        return (f"the machine's hand-off round trip changed during the run "
                f"({values[0]:.0f} ns before, {values[1]:.0f} ns after)")
    return None


def handoffs_differ(baseline: object, current: object) -> str | None:
    """Why two bench runs' rows that hand blocks between cores may differ for the machine, not the
    glue: their round trips (the slower of each run's two probes) are more than HANDOFF_APART x
    apart; None when they are not, or either run lacks them."""
    a, b = round_trips(baseline), round_trips(current)
    if not a or not b or not apart([max(a), max(b)]):
        return None
    return f"the machine's hand-off round trip was {max(a):.0f} ns in the baseline and {max(b):.0f} ns in this run"


def describe() -> dict:
    from stresskit.bench.harness import build_info  # loads cffi: only where a run is described

    info = build_info()
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        **info,
    }


BENCH_CHANGED = ("the rows that hand blocks between cores (cross-thread free, the engine row) straddle two "
                 "machines, rerun them")
RUN_CHANGED = ("the rates of roles that hand blocks between threads straddle two machines, compare this run's "
               "rates with care")


def handoff_line(machine: dict, consequence: str = BENCH_CHANGED) -> str | None:
    """The machine's hand-off round trip before and after the run (handoff_latency), in one line;
    None for a document from before it was recorded. When the two are more than HANDOFF_APART x
    apart the line says CHANGED and then `consequence`: what that means for this run's numbers
    (bench rows, a scenario's rates, a profile)."""
    parts = []
    for when in ("before", "after"):
        h = machine.get(f"handoff_{when}")
        if not isinstance(h, dict):
            continue
        if isinstance(h.get("round_trip_ns"), (int, float)):
            cpus = h.get("cpus")
            labels = [f"CPUs {cpus[0]}, {cpus[1]}"] if isinstance(cpus, list) and len(cpus) == 2 else []
            if h.get("same_core") is True:
                labels.append("SMT siblings of one core")
            where = f" ({', '.join(labels)})" if labels else ""
            parts.append(f"{h['round_trip_ns']:.0f} ns {when}{where}")
        else:
            parts.append(f"not measured {when}: {h.get('error', 'unknown')}")
    if not parts:
        return None
    changed = handoff_changed(machine)
    tail = f"; CHANGED during the run: {consequence}" if changed else ""
    return "cross-core hand-off round trip: " + "; ".join(parts) + tail
