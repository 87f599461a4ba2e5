"""Soaks: `run --repeat N`, `--until-failure`, `--max-time 2h` keep starting replicas, each with a
seed derived from the run's seed, until one fails or the count or the time runs out.

seeds.py: which plan replica k runs (reproducible by `run --seed`); stream.py: the report on disk,
rewritten as every replica finishes, bounded for hours (passing replicas summarised, failing ones
kept whole); drive.py: the loop over batches through stresskit.session.execute; command.py: the
CLI (docs/scale.md).
"""
