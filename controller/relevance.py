"""Which containers' history can change a decision in this cycle.

A rule fires only where its expression holds now *and* held at every step of its ``for``, and
a release or update only concerns a container that holds a limit. Every other container's
history cannot change any decision, so the cycle leaves it out of the engine's history frame:
at 100k containers that is most of the frame, and most of the cycle's time and memory.
The expressions are evaluated exactly as the engine evaluates them (same compiled
expressions, same columns), before the group's ``select``, so the set is a superset.
"""

import numpy as np
import numpy.typing as npt
import pandas as pd

from controller.frames import DIRECTIONS, RATE_COLUMNS, limit_column
from controller.rule_model import RuleSet
from controller.windows import ColumnsByName

Key = tuple[str, str, str]


def relevant_containers(rules: RuleSet, current: pd.DataFrame, applied: pd.DataFrame) -> set[Key]:
    limited: set[Key] = set(_applied_keys(applied))
    if not len(current):
        return limited
    keys = list(zip(current["namespace"], current["pod"], current["container"], strict=True))
    columns: dict[str, npt.NDArray[np.generic]] = {
        name: current[name].to_numpy(dtype=object) for name in ("namespace", "pod", "container")
    }
    columns["node"] = (
        current["node"].fillna("").to_numpy(dtype=object)
        if "node" in current
        else np.full(len(current), "", dtype=object)
    )
    for name in RATE_COLUMNS:
        columns[name] = current[name].to_numpy(dtype=np.float64, na_value=np.nan)
    # One pass over the containers finds each one's applied row (-1: none) for every direction.
    row_of = {key: row for row, key in enumerate(_applied_keys(applied))}
    rows = np.array([row_of.get(key, -1) for key in keys] if row_of else [], dtype=np.intp)
    found = np.flatnonzero(rows >= 0)
    for direction in DIRECTIONS:
        values = np.full(len(current), np.nan)
        values[found] = applied[limit_column(direction)].to_numpy(dtype=np.float64)[rows[found]]
        columns[limit_column(direction)] = values
    view = ColumnsByName(columns, len(current))  # type: ignore[arg-type]
    holds = np.zeros(len(current), dtype=bool)
    for rule in rules.rules():
        holds |= rule.expr.holds(view)
    return limited | {keys[row] for row in np.flatnonzero(holds)}


def _applied_keys(applied: pd.DataFrame) -> list[Key]:
    return list(zip(applied["namespace"], applied["pod"], applied["container"], strict=True))
