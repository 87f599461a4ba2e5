"""`stresskit compare A.json B.json` and `run --baseline`: run-to-run comparison of reports.

directions.py says which way is better per metric (docs/workflow.md quotes it), core.py compares
with the replicas' spread as the noise, render.py prints markdown or JSON, command.py is the CLI.
"""
