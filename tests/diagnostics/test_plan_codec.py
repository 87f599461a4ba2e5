"""plan_to_dict / plan_from_dict (stresskit/plan_codec.py): the replay record of a replica is its
whole ReplicaPlan, so the round trip must be lossless, through JSON text, for any plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan, SizeDistribution
from stresskit.plan_codec import PlanDecodeError, plan_from_dict, plan_to_dict
from stresskit.planner import plan
from stresskit.scenario import load

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "scenarios").glob("*.toml"))

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
sizes = st.builds(SizeDistribution, kind=st.sampled_from(["fixed", "uniform", "choice", "loguniform"]),
                  values=st.lists(st.integers(1, 1 << 40), min_size=1, max_size=4).map(tuple),
                  weights=st.lists(finite, max_size=4).map(tuple))
roles = st.builds(
    RolePlan, name=names, action=st.sampled_from(["alloc_free", "produce", "consume", "retire", "reclaim", "oom"]),
    threads=st.integers(1, 256), sizes=sizes, alloc_kind=st.sampled_from(["plain", "calloc", "aligned", "node"]),
    alignment=st.integers(0, 1 << 20), free_mode=st.sampled_from(["sized", "unsized"]), batch=st.integers(1, 65536),
    inbox=st.none() | names, outbox=st.none() | names, epoch_every=st.integers(1, 1 << 30), grace_epochs=st.integers(0, 1 << 20),
    grace_ns=st.integers(0, 60 * 10**9), memory_limit_bytes=st.integers(0, 1 << 40), oom_free_fraction=finite,
    edge_probe_every=st.integers(0, 1 << 30), calloc_count_max=st.integers(1, 4096), limbo=st.integers(0, 1 << 24),
    writes=st.integers(0, 1 << 16), live_set=st.integers(0, 1 << 20), handover_every=st.integers(0, 10**11),
)
extra_values = st.one_of(st.text(max_size=12), st.integers(-(2**63), 2**64), finite, st.booleans())
plans = st.builds(
    ReplicaPlan, scenario=st.text(max_size=20), replica=st.integers(0, 63), seed=st.integers(0, 2**64 - 1),
    roles=st.lists(roles, min_size=1, max_size=4).map(tuple),
    queues=st.lists(st.builds(QueuePlan, name=names, capacity=st.integers(2, 1 << 22)), max_size=3).map(tuple),
    ops=st.none() | st.integers(1, 10**11), duration_s=st.none() | finite, warmup_ops=st.integers(0, 10**11),
    latency_sample_every=st.integers(1, 1 << 20), series_interval_ms=st.integers(1, 60000), deadline_s=finite,
    stats=st.booleans(), rss_budget_bytes=st.none() | st.integers(0, 2**62), tracked_max=st.none() | st.integers(1, 2**32),
    extra=st.dictionaries(names, extra_values, max_size=4),
)


@pytest.mark.tier3
@settings(max_examples=300, deadline=None)
@given(plans)
def test_any_plan_survives_the_json_round_trip(p: ReplicaPlan) -> None:
    text = json.dumps(plan_to_dict(p), allow_nan=False)
    back = plan_from_dict(json.loads(text))
    assert back == p
    assert all(type(a) is type(b) for a, b in zip(back.roles, p.roles, strict=True))
    assert type(back.roles) is tuple and type(back.queues) is tuple and type(back.roles[0].sizes.values) is tuple


@pytest.mark.tier3
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_plan_round_trips(path: Path) -> None:
    for p in plan(load(path)).replicas:
        assert plan_from_dict(json.loads(json.dumps(plan_to_dict(p)))) == p


@pytest.mark.tier5
@pytest.mark.parametrize(("edit", "key"), [
    (lambda d: d["roles"][0].update(threads="2"), "roles[0].threads"),  # no "2" -> 2: strict
    (lambda d: d["roles"][0].update(action="explode"), "roles[0].action"),
    (lambda d: d.pop("seed"), "seed"),
    (lambda d: d.update(roles={}), "roles"),
    (lambda d: d["queues"].append({"name": "q"}), "queues[2].capacity"),  # smr has two queues
    (lambda d: d["roles"][0].update(live_set="1000"), "roles[0].live_set"),
    (lambda d: d["roles"][0]["sizes"].update(kind="lognormal"), "roles[0].sizes.kind"),
])
def test_a_damaged_plan_names_the_key(edit, key: str) -> None:
    d = plan_to_dict(plan(load(REPO / "scenarios" / "smr.toml")).replicas[0])
    edit(d)
    with pytest.raises(PlanDecodeError) as err:
        plan_from_dict(d)
    assert err.value.key == key and str(err.value).startswith(f"{key}: expected ")
