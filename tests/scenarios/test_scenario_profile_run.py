"""A real profiled smr run (py-spy attached): idle and start-up kept out of the work hotspots."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario_helpers import REPO, read_json, stresskit

pytestmark = pytest.mark.tier4

IDLE_LEAVES = ("sched_yield", "sk_backoff", "sk_cpu_relax", "pop_or_wait")


def test_smr_profile_separates_idle_and_lists_glue_frames(tmp_path: Path) -> None:
    out, prof_dir = tmp_path / "r.json", tmp_path / "prof"
    result = stresskit("run", str(REPO / "scenarios" / "smr.toml"), "--profile", "--profile-dir", str(prof_dir),
                       "--duration", "3s", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    prof = read_json(out)["profile"]
    if prof["problems"]:
        pytest.skip(f"py-spy could not profile here: {prof['problems']}")
    cats = prof["categories"]
    assert sum(c["samples"] for c in cats.values()) == prof["samples"] > 50
    assert cats["idle"]["samples"] > 0 and cats["startup"]["samples"] > 0
    assert prof["work_samples"] == cats["work"]["samples"] > 0
    assert not [h for h in prof["hotspots"] if h["frame"].startswith(IDLE_LEAVES) and h["self_pct"] > 0], prof["hotspots"]
    top = prof["top_frames"]
    # The glue is listed: named cc_* frames or its slow paths (node_slow runs on every fresh page).
    assert top["cc"], top
    assert top["mi"] and all(h["frame"].startswith(("mi_", "_mi_")) for h in top["mi"]), top
    assert top["engine"] and all(h["frame"].startswith(("sk_", "step_")) for h in top["engine"]), top
    assert "profile: " in result.stdout and "idle " in result.stdout and "top mi_* frames (of work):" in result.stdout
    speedscope = read_json(Path(prof["speedscope_json"]))
    assert {p["unit"] for p in speedscope["profiles"]} == {"milliseconds"}
