"""What a scenario is: the one place that defines every key of a scenario file, its type and its
bounds. pydantic turns this into validation (with key paths for errors) and into the JSON schema
(docs/scenario.schema.json). Checks that span several keys (the flow graph, which keys apply to
which action, threshold metric names) live in stresskit.scenario.validation.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from stresskit.units import parse_bytes, parse_duration_s

# Documented caps (docs/scenarios.md). They keep a typo (threads = 40000) from taking the machine down.
MAX_THREADS_PER_ROLE = 256
MAX_THREADS_TOTAL = 1024
MAX_ROLES = 64
MAX_BLOCK_BYTES = 1 << 30
MAX_ALIGNMENT = 1 << 20
MAX_BATCH = 65536  # native SK_MAX_BATCH
MAX_QUEUE_CAPACITY = 1 << 22
MAX_OPS = 10**11
MAX_DURATION_S = 3600.0
MAX_REPLICAS = 64
MAX_MEMORY_LIMIT = 1 << 40
# The oom bound is an exclusive mimalloc arena of exactly the limit (native/src/engine_oom.c):
# mimalloc 3.4's smallest arena (sk_oom_min_limit(); a test keeps the two equal) is the finest
# bound it can set, and the bound is really filled, so it must fit in the machine.
MIN_MEMORY_LIMIT = 32 << 20
MEMORY_LIMIT_RAM_SHARE = 0.5
MAX_CALLOC_COUNT = 4096  # native SK_MAX_CALLOC_COUNT
MAX_FLOWS = 256
# What grows with time inside a worker is capped (docs/scenarios.md, Memory); each is the native
# engine's constant of the same name in native/include/sk_engine.h (tests check they agree).
MIN_LIMBO = 4096  # SK_MIN_LIMBO: a reclaim thread's limbo holds at least ...
MAX_LIMBO = 1 << 24  # SK_MAX_LIMBO: ... and at most this many retired blocks
SERIES_MAX_POINTS = 8192  # SK_SERIES_MAX: points of the unreclaimed time series
OOM_MAX_LEDGER = 1 << 24  # SK_OOM_MAX_LEDGER: blocks an oom role's ledger remembers
MAX_LIVE_SET = 1 << 20  # SK_MAX_LIVE_SET: blocks one thread of a live-set role keeps live
MAX_WRITES = 1 << 16  # SK_MAX_WRITES: rewrites of one block before its free

ROLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,31}$"

Action = Literal["alloc_free", "produce", "consume", "retire", "reclaim", "oom"]
ALLOCATING_ACTIONS = frozenset({"alloc_free", "produce", "oom"})
FREEING_ACTIONS = frozenset({"alloc_free", "consume", "reclaim", "oom"})
# How many flows an action takes in and gives out (exactly).
INBOX_ACTIONS = frozenset({"consume", "retire", "reclaim"})
OUTBOX_ACTIONS = frozenset({"produce", "retire"})


def _reject_bool(value: Any) -> Any:
    # TOML has real booleans; `threads = true` is a mistake, not 1.
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    return value


def _bytes(value: Any) -> Any:
    value = _reject_bool(value)
    if isinstance(value, str):
        return parse_bytes(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _duration(value: Any) -> Any:
    value = _reject_bool(value)
    if isinstance(value, str):
        return parse_duration_s(value)
    return value


def physical_ram() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on every platform
        return None


def _memory_limit(value: int) -> int:
    if value < MIN_MEMORY_LIMIT:
        raise ValueError("at least 32MiB: mimalloc's smallest arena is the finest bound an oom role can set exactly")
    if value % MIN_MEMORY_LIMIT:
        down, up = value // MIN_MEMORY_LIMIT * 32, (value // MIN_MEMORY_LIMIT + 1) * 32
        raise ValueError(f"a multiple of 32MiB, e.g. {down}MiB or {up}MiB: mimalloc gives arena memory out in 32 MiB units, "
                         f"so the bound would really be {down} MiB")
    ram = physical_ram()
    cap = min(MAX_MEMORY_LIMIT, int(ram * MEMORY_LIMIT_RAM_SHARE)) if ram else MAX_MEMORY_LIMIT
    if value > cap:
        raise ValueError(f"at most {cap:,} bytes (half of this machine's RAM): an oom role really fills its bound")
    return value


Count = Annotated[int, BeforeValidator(_reject_bool)]
# json_schema_input_type: the schema shows what a user may write ("64MiB"), not the parsed type.
ByteCount = Annotated[int, BeforeValidator(_bytes, json_schema_input_type=Union[int, str])]
BlockSize = Annotated[int, BeforeValidator(_bytes, json_schema_input_type=Union[int, str]), Field(gt=0, le=MAX_BLOCK_BYTES)]
MemoryLimit = Annotated[int, BeforeValidator(_bytes, json_schema_input_type=Union[int, str]), AfterValidator(_memory_limit)]
Seconds = Annotated[float, BeforeValidator(_duration, json_schema_input_type=Union[float, str])]


class _Strict(BaseModel):
    # strict: no "4" -> 4 coercion; forbid: a misspelt key is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, populate_by_name=False)


class Sizes(_Strict):
    """Block sizes in bytes. Shorthands: ``sizes = 64`` (fixed), ``sizes = [16, 64, 256]`` (choice)."""

    dist: Literal["fixed", "uniform", "choice", "loguniform"] = Field(
        description="fixed: always `size`; uniform: any integer in [min, max]; choice: one of `values`; "
        "loguniform: in [min, max], each power-of-two class equally likely (weighted towards small sizes)"
    )
    size: BlockSize | None = Field(None, description="fixed: the block size")
    min: BlockSize | None = Field(None, description="uniform, loguniform: smallest size")
    max: BlockSize | None = Field(None, description="uniform, loguniform: largest size")
    values: list[BlockSize] | None = Field(None, min_length=1, max_length=64, description="choice: the sizes")
    weights: list[Annotated[float, Field(gt=0)]] | None = Field(
        None, description="choice: relative weight of each value (same length as values)"
    )

    @model_validator(mode="after")
    def _fields_match_dist(self) -> Sizes:
        needed = {"fixed": {"size"}, "uniform": {"min", "max"}, "choice": {"values"}, "loguniform": {"min", "max"}}[self.dist]
        allowed = needed | ({"weights"} if self.dist == "choice" else set())
        given = {k for k in ("size", "min", "max", "values", "weights") if getattr(self, k) is not None}
        if needed - given:
            raise ValueError(f"dist '{self.dist}' needs {', '.join(sorted(needed))}")
        if given - allowed:
            raise ValueError(f"dist '{self.dist}' takes {', '.join(sorted(allowed))}, not {', '.join(sorted(given - allowed))}")
        if self.dist in ("uniform", "loguniform") and self.min > self.max:  # type: ignore[operator]
            raise ValueError(f"min <= max (got min={self.min}, max={self.max})")
        if self.weights is not None and len(self.weights) != len(self.values or []):
            raise ValueError(f"as many weights as values ({len(self.values or [])})")
        return self


def _sizes_shorthand(data: Any) -> Any:
    if isinstance(data, (int, float, str)) and not isinstance(data, bool):
        return {"dist": "fixed", "size": data}
    if isinstance(data, list):
        return {"dist": "choice", "values": data}
    return data


SizesField = Annotated[Sizes, BeforeValidator(_sizes_shorthand, json_schema_input_type=Union[int, str, list[Union[int, str]], Sizes])]


class Role(_Strict):
    """A named group of threads doing one action. Keys that apply only to some actions are
    rejected on the others (see docs/scenarios.md)."""

    action: Action = Field(description="what each thread of the role does")
    description: str = Field("", max_length=200)
    threads: Count = Field(1, ge=1, le=MAX_THREADS_PER_ROLE, description="threads in this role")
    sizes: SizesField = Field(default_factory=lambda: Sizes(dist="fixed", size=64), description="block sizes")
    alloc: Literal["plain", "calloc", "aligned", "node"] = Field("plain", description="which cc_* allocates")
    alignment: Count | None = Field(None, ge=1, le=MAX_ALIGNMENT, description="alloc = 'aligned': a power of two")
    free: Literal["sized", "unsized"] = Field("sized", description="cc_free (sized) or cc_free_unsized")
    batch: Count = Field(64, ge=1, le=MAX_BATCH, description="blocks per native call / queue burst")
    epoch_every: Count | None = Field(None, ge=1, le=1 << 30, description="retire: advance the epoch every N retirements")
    grace_epochs: Count | None = Field(None, ge=0, le=1 << 20, description="reclaim: free only blocks retired this many epochs ago")
    grace: Seconds | None = Field(None, ge=0, le=60, description="reclaim: and at least this long ago (seconds or '500us')")
    memory_limit: MemoryLimit | None = Field(None, description="oom: memory bound of the worker (32 MiB .. half the machine's RAM)")
    free_fraction: float | None = Field(None, gt=0, le=1, description="oom: share of the obtained blocks to free before retrying")
    edge_probes: Count | None = Field(
        None, ge=1, le=1 << 30,
        description="produce/alloc_free: every N ops, also probe one edge of the glue's contract (size 0, overflow, "
        "oversized, invalid alignment, two-factor calloc, 1-15 B blocks, free(NULL)); violations count as contract.*",
    )
    calloc_count: Count | None = Field(
        None, ge=1, le=MAX_CALLOC_COUNT,
        description="alloc = 'calloc': the count factor of cc_calloc(count, size) is uniform in [1, N] (default 1)",
    )
    limbo: Count | None = Field(
        None, ge=1, le=MAX_LIMBO,
        description="reclaim: most retired blocks each thread holds while they wait out their grace (default: 4 x the "
        f"inbox's capacity, within [{MIN_LIMBO}, {MAX_LIMBO}]); a full limbo back-pressures the retirers",
    )
    # Canonical workloads (docs/scenarios.md, Canonical workloads; native/src/engine_workloads.c).
    writes: Count | None = Field(
        None, ge=1, le=MAX_WRITES,
        description="alloc_free, consume: rewrite each block this many times before freeing it (cache-thrash on "
        "a thread's own blocks, cache-scratch on blocks another thread allocated)",
    )
    live_set: Count | None = Field(
        None, ge=1, le=MAX_LIVE_SET,
        description="alloc_free: blocks each thread keeps live; every op frees a random one and allocates its "
        "replacement (larson, mstress) instead of batches",
    )
    handover_every: Count | None = Field(
        None, ge=1, le=MAX_OPS,
        description="alloc_free with live_set: every N ops a thread hands its whole live set to the role's next "
        "thread and carries on with the set handed to it (blocks outlive their allocator's round)",
    )


class Flow(_Strict):
    """Blocks move from one role to another through a bounded lock-free queue."""

    source: str = Field(alias="from", description="role that pushes blocks")
    to: str = Field(description="role that pops them")
    capacity: Count = Field(1024, ge=2, le=MAX_QUEUE_CAPACITY, description="queue slots, a power of two")
    queue: str | None = Field(
        None, pattern=ROLE_NAME_PATTERN, description="queue name; flows naming the same queue share it (default: FROM_to_TO)"
    )


class Load(_Strict):
    """How hard and how long."""

    ops: Count | None = Field(None, ge=1, le=MAX_OPS, description="allocations per replica, split over allocating threads")
    duration: Seconds | None = Field(None, gt=0, le=MAX_DURATION_S, description="stop allocating after this long")
    seed: Count | None = Field(None, ge=0, le=2**64 - 1, description="base seed (random and reported when absent)")
    replicas: Count = Field(1, ge=1, le=MAX_REPLICAS, description="independent repeats, each in its own worker process")
    workers: Count | None = Field(None, ge=1, le=MAX_REPLICAS, description="worker processes at once (default: min(replicas, CPUs))")
    warmup_ops: Count = Field(0, ge=0, le=MAX_OPS, description="per allocating thread, not measured")
    deadline: Seconds = Field(120.0, gt=0, le=4 * MAX_DURATION_S, description="a worker still running after this is killed")
    stall_timeout: Seconds | None = Field(
        None, gt=0, le=4 * MAX_DURATION_S,
        description="a role with no progress this long, nothing upstream of it moving, is a stall: its stacks and "
        "wait-for graph are reported and the replica is stopped (default: 10 s, at most half the deadline)",
    )
    latency_sample_every: Count = Field(64, ge=1, le=1 << 20, description="time one op in N")
    series_interval: Seconds = Field(0.05, ge=0.001, le=60, description="unreclaimed time-series resolution")
    stats: bool | Literal["alternate"] = Field(
        "alternate",
        description="glue statistics: true (on: the glue's books are checked against the engine's), false (off: "
        "the production fast path), 'alternate' (even replicas on, odd replicas off)",
    )


class Thresholds(_Strict):
    checks: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=100, description="expressions over metric names, e.g. 'bytes.leaked == 0'"
    )


BuiltinCheckName = Literal[
    "did_work", "no_leak", "no_glue_leak", "no_corruption", "no_double_handoff", "no_unexpected_null",
    "contract", "glue_books", "bounded_rss", "oom_bound",
]


class Checks(_Strict):
    """The built-in safety checks run on every scenario (docs/scenarios.md); this turns named ones off."""

    skip: list[BuiltinCheckName] = Field(
        default_factory=list, max_length=16,
        description="built-in checks not to enforce for this scenario (reported as skipped)",
    )


class Extra(_Strict):
    """Engine tunables (stresskit.engine); rarely needed."""

    oom_mechanism: Literal["mimalloc-arena", "rlimit-as"] | None = Field(
        None, description="how an oom role bounds memory: mimalloc arena reserve (default) or RLIMIT_AS"
    )
    chunk_ms: float | None = Field(None, gt=0, le=1000, description="work per native call of a role thread, in ms (default 20)")


class Scenario(_Strict):
    """A stress scenario: roles of threads, flows of blocks between them, load, thresholds."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="default: the file name")
    description: str = Field("", max_length=500, description="one line, shown by `stresskit list`")
    load: Load = Field(default_factory=Load)
    roles: dict[Annotated[str, Field(pattern=ROLE_NAME_PATTERN)], Role] = Field(min_length=1, max_length=MAX_ROLES)
    flows: list[Flow] = Field(default_factory=list, max_length=MAX_FLOWS)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    checks: Checks = Field(default_factory=Checks, description="built-in safety checks to skip")
    profile: bool = Field(False, description="sample workers with py-spy, like `run --profile`")
    extra: Extra = Field(default_factory=Extra, description="engine tunables")
    matrix: dict[str, Any] = Field(
        default_factory=dict,
        description="keys to sweep, each a scenario key path with an array of values (`roles.A.threads = [1, 2, 4]`): "
        "`stresskit run` runs one scenario per cell of their cartesian product (docs/scenarios.md, Matrices)",
    )
