"""The scenario JSON schema, generated from the model (docs/scenario.schema.json).

    python -m stresskit.scenario.schema > docs/scenario.schema.json
"""

from __future__ import annotations

import json

from stresskit.scenario.model import Scenario


def schema() -> dict[str, object]:
    out = Scenario.model_json_schema(by_alias=True)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["$comment"] = (
        "Generated from stresskit/scenario/model.py; checks spanning several keys (flow graph, "
        "per-action keys, thresholds) are in docs/scenarios.md."
    )
    return out


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
