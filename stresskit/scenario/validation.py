"""Checks that span several keys: the flow graph, which keys belong to which action, thread
totals, thresholds (syntax and metric names). Runs on a Scenario the model accepted.

Each group of checks is a generator of ScenarioError, so that ``check`` reports every independent
problem of a file at once (one line each) instead of making the user fix them one run at a time.
A check whose answer depends on another problem being fixed first is skipped while that problem
stands (the comment at each such place says which); everything else is always checked.
"""

from __future__ import annotations

import keyword
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from stresskit.metrics import known_metrics
from stresskit.plan import duration_fits, engine_deadline_s
from stresskit.scenario.errors import ScenarioError, combined, format_path, shown
from stresskit.scenario.model import (
    MAX_BLOCK_BYTES,
    OOM_MAX_LEDGER,
    ALLOCATING_ACTIONS,
    FREEING_ACTIONS,
    INBOX_ACTIONS,
    MAX_THREADS_TOTAL,
    OUTBOX_ACTIONS,
    Role,
    Scenario,
    Sizes,
)
from stresskit.thresholds import Threshold, ThresholdSyntaxError, parse

# Keys that only mean something for some actions; set on another action they are an error, so a
# user who writes `grace = "1ms"` on the retiring role learns it belongs on the reclaiming one.
ACTION_KEYS: dict[str, frozenset[str]] = {
    "sizes": ALLOCATING_ACTIONS,
    "alloc": ALLOCATING_ACTIONS,
    "alignment": ALLOCATING_ACTIONS,
    "free": FREEING_ACTIONS,
    "epoch_every": frozenset({"retire"}),
    "grace_epochs": frozenset({"reclaim"}),
    "grace": frozenset({"reclaim"}),
    "limbo": frozenset({"reclaim"}),
    "memory_limit": frozenset({"oom"}),
    "free_fraction": frozenset({"oom"}),
    "edge_probes": frozenset({"produce", "alloc_free"}),
    "calloc_count": ALLOCATING_ACTIONS,
    # canonical workloads
    "writes": frozenset({"alloc_free", "consume"}),
    "live_set": frozenset({"alloc_free"}),
    "handover_every": frozenset({"alloc_free"}),
}
POINTER_SIZE = 8


@dataclass(frozen=True)
class Queue:
    name: str
    capacity: int
    producers: tuple[str, ...]
    consumers: tuple[str, ...]


@dataclass(frozen=True)
class Graph:
    queues: dict[str, Queue]
    inbox: dict[str, str]  # role -> queue it pops from
    outbox: dict[str, str]  # role -> queue it pushes to


def queue_name(flow_source: str, flow_to: str, explicit: str | None) -> str:
    return explicit or f"{flow_source}_to_{flow_to}"


def _problem(file: str, loc: tuple, expected: str, got: object = None, raw_got: bool = False) -> ScenarioError:
    return ScenarioError(file, format_path(loc), expected, None if got is None else (str(got) if raw_got else shown(got)))


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def _roles_in_order(s: Scenario) -> Iterator[tuple[str, Role]]:
    yield from s.roles.items()


def role_problems(file: str, s: Scenario) -> Iterator[ScenarioError]:
    total = 0
    for name, role in _roles_in_order(s):
        if keyword.iskeyword(name) or name in ("true", "false"):
            yield _problem(file, ("roles", name), "a role name that is not a reserved word (it must work in thresholds)", name)
        misplaced = {key for key in role.model_fields_set & ACTION_KEYS.keys() if role.action not in ACTION_KEYS[key]}
        for key in sorted(misplaced):
            allowed = ", ".join(sorted(ACTION_KEYS[key]))
            yield _problem(file, ("roles", name, key), f"this key only on roles whose action is {allowed}; remove it", f"action '{role.action}'", True)
        # A key that does not belong to the role's action is to be removed, not corrected: what
        # its value should be is not asked until it sits on the right role.
        if not misplaced & {"alloc", "alignment"}:
            yield from _alignment_problems(file, name, role)
        if "calloc_count" not in misplaced:
            yield from _calloc_problems(file, name, role)
        if not misplaced & {"live_set", "handover_every"}:
            yield from _workload_problems(file, name, role)
        if role.action == "oom" and role.memory_limit is None:
            yield _problem(file, ("roles", name, "memory_limit"), "a memory bound like \"256MiB\" for action 'oom'")
        elif role.action == "oom" and role.memory_limit > (OOM_MAX_LEDGER // 2) * smallest_size(role.sizes):
            # the ledger (one slot per block obtained) must outlast the bound, with room for slack
            yield _problem(file, ("roles", name, "memory_limit"),
                           f"at most {OOM_MAX_LEDGER // 2:,} blocks of the smallest size ({smallest_size(role.sizes):,} B), the oom ledger's "
                           f"half: {(OOM_MAX_LEDGER // 2) * smallest_size(role.sizes):,} bytes; raise the smallest size or lower the limit",
                           f"{role.memory_limit:,}", True)
        total += role.threads
    if total > MAX_THREADS_TOTAL:
        yield _problem(file, ("roles",), f"at most {MAX_THREADS_TOTAL} threads over all roles", f"{total}", True)
    oom = [n for n, r in s.roles.items() if r.action == "oom"]
    others = [n for n, r in s.roles.items() if r.action != "oom"]
    for other in others if oom else ():
        yield _problem(
            file, ("roles", other, "action"),
            f"no other role beside an 'oom' role ({oom[0]}): its memory bound applies to the whole worker; "
            "put this role in another scenario", s.roles[other].action,
        )


def smallest_size(sizes: Sizes) -> int:
    return max(16, int(sizes.size or sizes.min or min(sizes.values or [16])))


def _alignment_problems(file: str, name: str, role: Role) -> Iterator[ScenarioError]:
    if role.alloc == "aligned":
        if role.alignment is None:
            yield _problem(file, ("roles", name, "alignment"), "an alignment (a power of two >= 8) because alloc = 'aligned'")
        elif role.alignment < POINTER_SIZE or role.alignment & (role.alignment - 1):
            yield _problem(file, ("roles", name, "alignment"), f"a power of two >= {POINTER_SIZE}", role.alignment)
    elif role.alignment is not None:
        yield _problem(file, ("roles", name, "alignment"), "alignment only with alloc = 'aligned'; remove it or set alloc", f"alloc '{role.alloc}'", True)


def _calloc_problems(file: str, name: str, role: Role) -> Iterator[ScenarioError]:
    if role.calloc_count is not None and role.alloc != "calloc":
        yield _problem(file, ("roles", name, "calloc_count"), "calloc_count only with alloc = 'calloc'; remove it or set alloc", f"alloc '{role.alloc}'", True)
    elif role.calloc_count and largest_size(role.sizes) * role.calloc_count > MAX_BLOCK_BYTES:
        yield _problem(file, ("roles", name, "calloc_count"), f"calloc_count x the largest size at most {MAX_BLOCK_BYTES:,} bytes (1 GiB)",
                       f"{role.calloc_count} x {largest_size(role.sizes):,}", True)


def _workload_problems(file: str, name: str, role: Role) -> Iterator[ScenarioError]:
    if role.handover_every is not None and role.live_set is None:
        yield _problem(file, ("roles", name, "handover_every"), "handover_every only with live_set (the set handed over); "
                       "add live_set or remove it", "no live_set", True)


def largest_size(sizes: Sizes) -> int:
    return int(sizes.size or sizes.max or max(sizes.values or [0]))


def load_problems(file: str, s: Scenario) -> Iterator[ScenarioError]:
    """A duration or stall timeout the deadline would cut short is a contradiction, not a PASS."""
    load = s.load
    if load.duration is not None and not duration_fits(load.duration, load.deadline):
        yield _problem(file, ("load", "duration"), duration_message(load.deadline), f"{load.duration:g} s", True)
    if load.stall_timeout is not None and load.stall_timeout >= engine_deadline_s(load.deadline):
        yield _problem(file, ("load", "stall_timeout"),
                       f"a timeout below the engine's stop at {engine_deadline_s(load.deadline):g} s (load.deadline "
                       f"{load.deadline:g} s minus max(1 s, 5 %)), or the deadline ends the replica first",
                       f"{load.stall_timeout:g} s", True)


def duration_message(deadline: float) -> str:
    return (f"a duration that ends before the engine's stop at {engine_deadline_s(deadline):g} s (load.deadline "
            f"{deadline:g} s minus max(1 s, 5 %)); raise load.deadline or shorten the duration")


def graph_problems(file: str, s: Scenario) -> Generator[ScenarioError, None, Graph]:
    """Yields the problems of the flow graph; returns the graph (meaningful only without them)."""
    roles = s.roles
    producers: dict[str, list[str]] = {}
    consumers: dict[str, list[str]] = {}
    capacity: dict[str, tuple[int, int]] = {}
    edges: dict[str, set[str]] = {}
    inbox: dict[str, str] = {}
    outbox: dict[str, str] = {}
    names = ", ".join(roles)
    dangling = False
    for i, flow in enumerate(s.flows):
        undefined = [(key, role) for key, role in (("from", flow.source), ("to", flow.to)) if role not in roles]
        for key, role in undefined:
            yield _problem(file, ("flows", i, key), f"a role defined under [roles] ({names})", role)
        if flow.capacity & (flow.capacity - 1):
            up = 1 << (flow.capacity - 1).bit_length()
            yield _problem(file, ("flows", i, "capacity"), f"a power of two (try {up})", flow.capacity)
        if undefined:
            # A flow naming a role that does not exist is most likely a typo: which queue it
            # belongs to and what it connects are only known once the name is fixed.
            dangling = True
            continue
        q = queue_name(flow.source, flow.to, flow.queue)
        if q in capacity and capacity[q][0] != flow.capacity:
            yield _problem(file, ("flows", i, "capacity"), f"the capacity flows[{capacity[q][1]}] gives shared queue '{q}' ({capacity[q][0]})", flow.capacity)
        capacity.setdefault(q, (flow.capacity, i))
        edges.setdefault(flow.source, set()).add(flow.to)
        for role, table, key in ((flow.source, outbox, "from"), (flow.to, inbox, "to")):
            if table.get(role, q) != q:
                side = "sends to" if key == "from" else "takes from"
                yield _problem(file, ("flows", i, key), f"one queue per role side: role {role} already {side} queue '{table[role]}' (name a shared `queue` to merge flows)", role)
                continue
            table[role] = q
        if flow.source not in producers.get(q, []):
            producers.setdefault(q, []).append(flow.source)
        if flow.to not in consumers.get(q, []):
            consumers.setdefault(q, []).append(flow.to)

    cycle = _find_cycle(edges)
    if cycle and not any(roles[r].action in FREEING_ACTIONS for r in cycle):
        i = next(i for i, f in enumerate(s.flows) if f.source == cycle[-2] and f.to == cycle[-1])
        yield _problem(file, ("flows", i), "flows without a cycle: blocks going round " + " -> ".join(cycle) + " are never freed; end the chain at a role whose action is consume or reclaim")

    # With a flow to or from an undefined role, "role X has no flow in/out" is a consequence of
    # that typo, not a second problem: these checks wait until every flow names real roles.
    for name, role in roles.items() if not dangling else ():
        if role.action in INBOX_ACTIONS and name not in inbox:
            yield _problem(file, ("roles", name, "action"), f"a flow into role {name} (add [[flows]] with to = \"{name}\"), since action '{role.action}' takes blocks from a queue", role.action)
        if role.action not in INBOX_ACTIONS and name in inbox:
            i = next(i for i, f in enumerate(s.flows) if f.to == name)
            yield _problem(file, ("flows", i, "to"), f"a role whose action takes blocks in (consume, retire or reclaim); role {name} has action '{role.action}'", name)
        if role.action in OUTBOX_ACTIONS and name not in outbox:
            yield _problem(file, ("roles", name, "action"), f"a flow out of role {name} to a consuming role (add [[flows]] with from = \"{name}\"); otherwise its queue has no consumer", role.action)
        if role.action not in OUTBOX_ACTIONS and name in outbox:
            i = next(i for i, f in enumerate(s.flows) if f.source == name)
            yield _problem(file, ("flows", i, "from"), f"a role whose action hands blocks on (produce or retire); role {name} has action '{role.action}'", name)
    queues = {q: Queue(q, capacity[q][0], tuple(producers[q]), tuple(consumers[q])) for q in capacity}
    return Graph(queues=queues, inbox=inbox, outbox=outbox)


def threshold_problems(file: str, s: Scenario) -> Generator[ScenarioError, None, list[Threshold]]:
    """Yields every expression that does not parse and every unknown metric name; returns the
    thresholds that parsed."""
    known = known_metrics(s.roles)
    parsed = []
    for i, text in enumerate(s.thresholds.checks):
        loc = ("thresholds", "checks", i)
        try:
            t = parse(text)
        except ThresholdSyntaxError as exc:
            yield _problem(file, loc, str(exc))
            continue
        for name in t.metrics:
            if name not in known:
                yield _problem(file, loc, f"a known metric name (see docs/metrics.md), e.g. {_closest(name, known)}", name, True)
        parsed.append(t)
    return parsed


def _closest(name: str, known: frozenset[str]) -> str:
    import difflib

    match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
    return match[0] if match else "bytes.leaked"


@dataclass(frozen=True)
class CheckedScenario:
    """A scenario that passed every check, with what the checks derived."""

    file: str
    name: str
    model: Scenario
    graph: Graph
    thresholds: tuple[Threshold, ...]


def _drain(checks: Generator[ScenarioError, None, object], into: list[ScenarioError]) -> object:
    """Collect what a group of checks yields; hand back what it returns."""
    while True:
        try:
            into.append(next(checks))
        except StopIteration as done:
            return done.value


def matrix_problems(file: str, s: Scenario, default_name: str) -> list[ScenarioError]:
    """The ``[matrix]`` table: real key paths, and every cell a valid scenario (stresskit.matrix)."""
    from stresskit.matrix.expand import checked_cells

    try:
        checked_cells(file, s.model_dump(mode="json", by_alias=True, exclude_unset=True), default_name=default_name)
    except ScenarioError as err:
        return list(getattr(err, "problems", [err]))
    return []


def check(file: str, s: Scenario, default_name: str) -> CheckedScenario:
    """Every cross-key problem of the file at once (ScenarioErrors), or the checked scenario."""
    problems: list[ScenarioError] = []
    problems.extend(role_problems(file, s))
    problems.extend(load_problems(file, s))
    graph = _drain(graph_problems(file, s), problems)
    thresholds = _drain(threshold_problems(file, s), problems)
    if s.matrix and not problems:  # each cell is checked as a scenario of its own: only a sound base has cells
        problems.extend(matrix_problems(file, s, default_name))
    error = combined(problems)
    if error is not None:
        raise error
    assert isinstance(graph, Graph) and isinstance(thresholds, list)
    return CheckedScenario(file=file, name=s.name or default_name, model=s, graph=graph, thresholds=tuple(thresholds))
