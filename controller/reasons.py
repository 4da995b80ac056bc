"""Human reasons with the observed figures, built for many rows at once.

``write_iops > 1000`` with ``for: 5m`` reads ``write_iops 1850 > 1000 for 5m (rule
noisy/sustained-writer)``: every number column the expression names is followed by its value.
"""

import numpy as np
import numpy.typing as npt

from controller.container_index import Positions
from controller.expressions import Expression, figures_template
from controller.frames import DIRECTIONS, limit_column
from controller.rule_model import DEFAULT_RELEASE_RATIO, Release, Rule
from controller.windows import ColumnsByName
from iops_limit.durations import format_duration
from iops_limit.quoting import quoted

Strings = npt.NDArray[np.object_]


def figures(values: npt.NDArray[np.float64]) -> Strings:
    """Numbers as people read them: whole above 100, three significant digits below."""
    return np.array([_figure(value) for value in values.tolist()], dtype=object)


def _figure(value: float) -> str:
    if np.isnan(value):
        return "none"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def render(expression: Expression, columns: ColumnsByName, rows: Positions) -> Strings:
    """The expression's source with each number column followed by its value on each row."""
    text = np.full(len(rows), "", dtype=object)
    for literal, column in figures_template(expression):
        text += literal
        if column:
            values = columns.numbers(column)[rows]
            text += " "
            text += figures(values)
    return text


def _window(seconds: float) -> str:
    return f" for {format_duration(seconds)}" if seconds > 0 else ""


def rule_reason(rule: Rule, columns: ColumnsByName, rows: Positions) -> Strings:
    text = render(rule.expr, columns, rows)
    text += f"{_window(rule.for_seconds)} (rule {rule.qualified_name})"
    return text


def no_limit_reason(rule: Rule, columns: ColumnsByName, rows: Positions) -> Strings:
    """A rule fired but every limit it names came out NaN or infinite on these rows, e.g.
    ``fillna(limit_write_iops, ...)`` with NaN as the fill: say so instead of a silent none."""
    written = ", ".join(
        f"{limit.direction}: {quoted(limit.expression.source)}"
        for limit in rule.limits
        if limit.expression is not None
    )
    text = rule_reason(rule, columns, rows)
    text += f" fired, but its limit ({written}) is not a number here: no limit set"
    return text


def release_reason(release: Release, columns: ColumnsByName, rows: Positions) -> Strings:
    """What the release condition reads now, e.g. ``write_iops 120 < 50% of limit 500``."""
    if not release.is_default:
        text = render(release.expr, columns, rows)
    else:
        text = np.full(len(rows), "", dtype=object)
        for direction in DIRECTIONS:
            limit = columns.numbers(limit_column(direction))[rows]
            observed = columns.numbers(direction)[rows]
            limited = ~np.isnan(limit)
            if not limited.any():
                continue
            piece = np.full(len(rows), "", dtype=object)
            percent = f"{DEFAULT_RELEASE_RATIO:.0%}"
            piece[limited] = (
                f"{direction} "
                + figures(observed[limited])
                + f" < {percent} of limit "
                + figures(limit[limited])
            )
            separator = np.where((text != "") & limited, ", ", "")
            text = text + separator + piece
    text += _window(release.for_seconds)
    return text
