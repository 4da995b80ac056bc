"""Plain-text tables for the commands' terminal output."""

import math
from collections.abc import Mapping, Sequence

from controller.ownership import DIRECTIONS

_UNITS = {"read_iops": "IOPS", "write_iops": "IOPS", "read_bps": "B/s", "write_bps": "B/s"}


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def figure(value: object) -> str:
    """A rate for a table cell: whole numbers, ``-`` for no data."""
    if isinstance(value, int | float) and not math.isnan(value):
        return f"{value:.0f}"
    return "-"


def limit_text(values: Mapping[str, object]) -> str:
    """``write 500 IOPS`` from ``limit_*`` values (NaN or None = no limit), ``-`` for none."""
    parts = []
    for direction in DIRECTIONS:
        value = values.get("limit_" + direction)
        if isinstance(value, int | float) and not math.isnan(value):
            parts.append(f"{direction.split('_')[0]} {value:.0f} {_UNITS[direction]}")
    return ", ".join(parts) or "-"
