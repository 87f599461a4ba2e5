"""Scenario matrices: one scenario swept over keys (`run --matrix`, a file's ``[matrix]``).

expand.py: key paths and values -> checked cells (cartesian product); cells.py: what the report,
the console table and the charts read from each cell; table.py: the console table; plot.py:
`run --plot` (matplotlib); session.py: runs the cells one after another through
stresskit.session.execute and writes one report file holding them all (docs/scale.md).
"""

from stresskit.matrix.expand import Axis, Cell, checked_cells, parse_option

__all__ = ["Axis", "Cell", "checked_cells", "parse_option"]
