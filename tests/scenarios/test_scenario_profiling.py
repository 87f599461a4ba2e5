"""From py-spy's collapsed stacks to hotspots, speedscope and SVG (hand-written stacks, no py-spy)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from stresskit.html.flame import stacks_from_speedscope
from stresskit.profiling import DEFAULT_RATE, flamegraph_svg, frame_key, hotspots, is_native, read_collapsed, speedscope

pytestmark = pytest.mark.tier1

RAW = """\
_bootstrap (threading.py:995);run (stresskit/engine.py:201);sk_role_step (engine_roles.c:340);step_produce (engine_roles.c:150);mi_malloc (alloc.c:12) 30
_bootstrap (threading.py:995);run (stresskit/engine.py:201);sk_role_step (engine_roles.c:341);step_produce (engine_roles.c:151) 10
_bootstrap (threading.py:995);run (stresskit/engine.py:205) 10
0x7f00deadbeef (libc.so.6);gc_collect_main (libpython3.11.so.1.0) 50
"""


def test_hotspots_self_and_inclusive(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_text(RAW)
    stacks = read_collapsed(path)
    total, top = hotspots(stacks)
    assert total == 100
    by = {h.frame: h for h in top}
    assert by["mi_malloc (alloc.c)"].self_pct == 30 and by["mi_malloc (alloc.c)"].native
    step = by["step_produce (engine_roles.c)"]  # two lines of one function count together
    assert step.self_pct == 10 and step.inclusive_pct == 40
    run = by["run (stresskit/engine.py)"]
    assert run.self_pct == 10 and run.inclusive_pct == 50 and not run.native
    assert by["[unknown] (libc.so.6)"].inclusive_pct == 50
    assert top[0].frame == "gc_collect_main (libpython3.11.so.1.0)"  # ranked by self time


def test_frame_classification() -> None:
    assert frame_key("0xdead (libc.so.6)") == "[unknown] (libc.so.6)"
    assert is_native("mi_free (libstresskit_native.so)")
    assert not is_native("role (script.py)")


def test_speedscope_and_svg_shapes() -> None:
    stacks = Counter({("a (x.py)", "b (lib.so)"): 3, ("a (x.py)",): 1})
    doc = speedscope({"replica 0": stacks}, "t")
    json.dumps(doc)
    frames = doc["shared"]["frames"]
    prof = doc["profiles"][0]
    assert prof["type"] == "sampled" and prof["unit"] == "milliseconds"
    interval = 1000 / DEFAULT_RATE  # each sample weighs one sampling interval
    assert prof["weights"] == [pytest.approx(3 * interval), pytest.approx(interval)]
    assert prof["endValue"] == pytest.approx(4 * interval)
    assert stacks_from_speedscope(doc) == Counter({("a (x.py)", "b (lib.so)"): 3, ("a (x.py)",): 1})  # the HTML flamegraph counts samples
    assert [[frames[i]["name"] for i in s] for s in prof["samples"]] == [["a", "b"], ["a"]]
    svg = flamegraph_svg(stacks, "t")
    assert svg.startswith("<svg") and svg.count("<rect") == 2 and "b (lib.so) (3 samples, 75.0%)" in svg


def test_a_unitless_speedscope_file_still_counts_samples() -> None:
    doc = {"shared": {"frames": [{"name": "a"}]}, "profiles": [{"unit": "none", "samples": [[0]], "weights": [7]}]}
    assert stacks_from_speedscope(doc) == Counter({("a",): 7})
