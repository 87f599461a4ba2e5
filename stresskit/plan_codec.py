"""ReplicaPlan <-> plain JSON-able dict, lossless (the report's ``workers[i].replay.plan``).

pydantic validates stdlib dataclasses directly, so the plan stays a plain frozen dataclass (the
engine and the workers never import this) while reading one back is typed and checked: a
report edited by hand or cut short gives a one-line error naming the key, not a half-built plan.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from stresskit.plan import ReplicaPlan


class PlanDecodeError(ValueError):
    """``key`` (a dotted path inside the plan) held something that is not part of a plan."""

    def __init__(self, key: str, expected: str, got: str) -> None:
        self.key, self.expected, self.got = key, expected, got
        super().__init__(f"{key}: expected {expected} (got {got})")


@lru_cache(maxsize=1)
def _adapter() -> TypeAdapter[ReplicaPlan]:
    return TypeAdapter(ReplicaPlan)


def plan_to_dict(plan: ReplicaPlan) -> dict[str, Any]:
    """Tuples become lists, everything else stays a JSON scalar; plan_from_dict undoes it."""
    return _adapter().dump_python(plan, mode="json")


def plan_from_dict(data: object) -> ReplicaPlan:
    """The plan ``plan_to_dict`` wrote, or PlanDecodeError naming the first wrong key."""
    try:
        # strict JSON mode: arrays may become tuples, but "4" never becomes 4
        return _adapter().validate_json(json.dumps(data, allow_nan=False), strict=True)
    except (TypeError, ValueError) as exc:
        if not isinstance(exc, ValidationError):  # not JSON at all (NaN, an object that is no JSON value)
            raise PlanDecodeError("(the plan)", "JSON values only", type(exc).__name__) from None
        err = exc.errors(include_url=False)[0]
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".") or "(the plan)"
        msg = str(err["msg"]).removeprefix("Input should be ").removeprefix("Value error, ")
        if err["type"] == "missing":
            raise PlanDecodeError(key, "this key (every field of a plan is recorded)", "nothing") from None
        got = repr(err.get("input"))
        raise PlanDecodeError(key, msg[:1].lower() + msg[1:], got if len(got) <= 40 else got[:37] + "...") from None
