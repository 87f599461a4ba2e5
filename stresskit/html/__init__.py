"""`stresskit report` / `run --html`: one self-contained HTML page per run report.

data.py pulls what the page shows out of the report, flame.py builds the flamegraph's tree,
charts.py draws with plotly (its JavaScript inlined once: the file works offline), page.py lays
it out. plotly is the optional extra ``stresskit[html]`` (docs/workflow.md).
"""

from __future__ import annotations

from stresskit.html.page import HtmlUnavailable, render

__all__ = ["HtmlUnavailable", "render"]
