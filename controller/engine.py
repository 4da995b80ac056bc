"""The rule engine: per-container IO rates and applied limits in, one decision per container out.

``evaluate`` is pure (no I/O, no clock) and vectorised: it loops over groups and rules, never
over containers. Semantics (DESIGN.md, README "Rules"):

- A group's ``select`` limits which containers its rules may act on.
- A rule fires for a container when its ``expr`` holds now and at every step of its ``for``.
- Across firing rules the strictest (lowest) value per direction wins; on a tie the rule
  loaded first (files by name, then as written) wins. The rule that won a direction first in
  that order names the decision.
- A limit is rounded (halves up) and clamped to the floor (``floor_iops``; ``floor_bps`` for
  bytes) and to the annotation contract's ceiling; a limit expression that yields NaN or
  infinity sets no limit in that direction (a rule left with none at all: ``none``, saying so).
- A held limit only tightens (``update``); it loosens only by release, when the group's
  release condition (default: every limited direction below 50% of its limit for 10m) held for
  its ``for`` and no rule fires. Changes of one container are ``min_hold`` apart, and a
  release is a change: a container in ``released`` is not limited again before the hold passes.
- At most ``max_new_limits_fraction`` of the selected pods (at least one) are newly limited
  per evaluation, the most demanding first (highest observed/limit ratio; ties by namespace,
  pod); the others stay ``none`` and say so.
- Limits set by a person (applied rows with empty group and rule) are kept, never touched.
- An applied limit whose container is missing from ``current`` is kept: no data is no reason
  to release (fail static).
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from controller.container_index import (
    ContainerIndex,
    EngineInputError,
    Objects,
    Positions,
    key_arrays,
)
from controller.decisions import Decisions, RuleMatches
from controller.expressions import Array
from controller.frames import (
    APPLIED_COLUMNS,
    IOPS_DIRECTIONS,
    KEY_COLUMNS,
    LABELS_COLUMN,
    LIMIT_COLUMNS,
    RATE_COLUMNS,
    RELEASED_COLUMNS,
    TIME_COLUMN,
)
from controller.rule_files import MAX_LIMIT
from controller.rule_model import Limit, Rule, RuleSet
from controller.windows import ColumnsByName, History

__all__ = ["EngineInputError", "EngineOptions", "evaluate"]

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EngineOptions:
    floor_iops: int = 50
    min_hold: float = 300.0
    max_new_limits_fraction: float = 0.2
    # 1 MiB/s: below this even a container's own logging and start-up stall.
    floor_bps: int = 1_048_576
    # Seconds between evaluations (the service's INTERVAL); 0: the median spacing of the
    # history's times. ``for`` windows count steps on this grid.
    interval: float = 0.0


# The positional signature is the engine's contract with the service.
def evaluate(  # noqa: PLR0917
    rules: RuleSet,
    current: pd.DataFrame,
    history: pd.DataFrame,
    applied: pd.DataFrame,
    now: float,
    options: EngineOptions | None = None,
    *,
    released: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One decision row per container in ``current`` and ``applied`` (frame contract).

    ``released`` (columns :data:`RELEASED_COLUMNS`) lists containers whose limit was released
    and when; the engine keeps no memory, so the caller remembers its own releases.
    """
    options = options or EngineOptions()
    state = _State.build(current, applied)
    history_view = _history(history, state, now, options.interval)
    matches = _match(rules, state, history_view, options)
    decisions = Decisions(
        rules,
        state.columns,
        applied=state.applied,
        in_current=state.in_current,
        matches=matches,
        options=options,
        now=now,
        released_at=_released_at(released, state),
    )
    decisions.decide_by_rules()
    decisions.decide_releases(history_view)
    decisions.cap_new_limits(state.pod_codes, matches.selected)
    return decisions.frame()


@dataclass(frozen=True)
class AppliedState:
    """The applied frame aligned to the containers: NaN / "" where none is applied."""

    present: Mask
    by_person: Mask
    group: npt.NDArray[np.object_]
    rule: npt.NDArray[np.object_]
    changed: Floats


@dataclass(frozen=True)
class _State:
    """The containers under evaluation: the current frame's rows, then applied-only rows."""

    columns: ColumnsByName
    in_current: Mask
    applied: AppliedState
    index: ContainerIndex
    current_rows: int
    pod_codes: npt.NDArray[np.int64]

    @staticmethod
    def build(current: pd.DataFrame, applied: pd.DataFrame) -> "_State":
        _require(current, RATE_COLUMNS, "current")
        keys = key_arrays(current, "current")
        index = ContainerIndex(*keys)
        n_current = len(current)
        applied_keys, at = _applied_positions(applied, index)
        # Containers with an applied limit but no current data are appended after the rest.
        gone = np.flatnonzero(at < 0)
        at[gone] = n_current + np.arange(len(gone))
        n = n_current + len(gone)
        blank = np.full(len(gone), "", dtype=object)
        columns: dict[str, Array] = {
            name: np.concatenate([values, extra[gone]])
            for name, values, extra in zip(KEY_COLUMNS, keys, applied_keys, strict=True)
        }
        node = current["node"].fillna("") if "node" in current else pd.Series([""] * n_current)
        columns["node"] = np.concatenate([node.to_numpy(dtype=object), blank])
        labels = (
            current[LABELS_COLUMN].to_numpy(dtype=object)
            if LABELS_COLUMN in current
            else np.full(n_current, None, dtype=object)
        )
        columns[LABELS_COLUMN] = np.concatenate([labels, np.full(len(gone), None, dtype=object)])
        for name in RATE_COLUMNS:
            rates = current[name].to_numpy(dtype=np.float64, na_value=np.nan)
            columns[name] = np.concatenate([rates, np.full(len(gone), np.nan)])
        for name in LIMIT_COLUMNS:
            limits = np.full(n, np.nan)
            if len(applied):
                limits[at] = applied[name].to_numpy(dtype=np.float64, na_value=np.nan)
            columns[name] = limits
        pod_codes = np.concatenate([index.pod_codes, -1 - np.arange(len(gone), dtype=np.int64)])
        return _State(
            ColumnsByName(columns, n),
            np.arange(n) < n_current,
            _applied_state(applied, at, n),
            index,
            n_current,
            pod_codes,
        )


def _applied_positions(
    applied: pd.DataFrame, index: ContainerIndex
) -> tuple[tuple[Objects, Objects, Objects], Positions]:
    """The applied frame's keys and each row's position in the current frame (-1: absent)."""
    if not len(applied):
        empty = np.zeros(0, dtype=object)
        return (empty, empty, empty), np.zeros(0, dtype=np.intp)
    _require(applied, APPLIED_COLUMNS, "applied")
    keys = key_arrays(applied, "applied")
    ContainerIndex(*keys, frame="applied")  # rejects a container limited twice
    return keys, index.positions(*keys)


def _applied_state(applied: pd.DataFrame, at: Positions, n: int) -> AppliedState:
    group = np.full(n, "", dtype=object)
    rule = np.full(n, "", dtype=object)
    changed = np.full(n, np.nan)
    present = np.zeros(n, dtype=np.bool_)
    if len(applied):
        group[at] = applied["group"].fillna("").to_numpy(dtype=object)
        rule[at] = applied["rule"].fillna("").to_numpy(dtype=object)
        changed[at] = applied["changed"].to_numpy(dtype=np.float64, na_value=np.nan)
        present[at] = True
    by_person = present & (group == "") & (rule == "")
    return AppliedState(present, by_person, group, rule, changed)


def _released_at(released: pd.DataFrame | None, state: "_State") -> Floats:
    """The latest release time of each container under evaluation (NaN: none known)."""
    result = np.full(state.columns.length, np.nan)
    if released is None or not len(released):
        return result
    _require(released, RELEASED_COLUMNS, "released")
    at = state.index.positions(*key_arrays(released, "released"))
    times = released["released"].to_numpy(dtype=np.float64, na_value=np.nan)
    known = at >= 0
    np.fmax.at(result, at[known], times[known])
    return result


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise EngineInputError(f"{name} frame lacks columns {', '.join(missing)}")


def _history(history: pd.DataFrame, state: _State, now: float, interval: float) -> History:
    if len(history):
        _require(history, (TIME_COLUMN, *RATE_COLUMNS), "history")
        keys = key_arrays(history, "history", check=False)
        times = history[TIME_COLUMN].to_numpy(dtype=np.float64, na_value=np.nan)
        rates = {
            name: history[name].to_numpy(dtype=np.float64, na_value=np.nan) for name in RATE_COLUMNS
        }
    else:
        empty = np.zeros(0, dtype=object)
        keys = (empty, empty, empty)
        times = np.zeros(0)
        rates = {name: np.zeros(0) for name in RATE_COLUMNS}
    return History(times, keys, rates, state.index, state.columns, now, interval)


def _match(rules: RuleSet, state: _State, history: History, options: EngineOptions) -> RuleMatches:
    """Which rules fire where, and the strictest limit per direction with the rule that set it."""
    n = state.columns.length
    matches = RuleMatches.empty(n, rules.rules())
    namespace, _, container = state.index.columns
    labels = state.columns.column(LABELS_COLUMN)[: state.current_rows]
    pods = state.index.pod_labels(np.asarray(labels, dtype=object))
    eligible = state.in_current & ~state.applied.by_person
    appended = np.zeros(n - state.current_rows, dtype=np.bool_)
    for group in rules.groups:
        selected = np.concatenate([group.select.mask(namespace, container, pods), appended])
        matches.selected |= selected
        for rule in group.rules:
            holds_now = rule.expr.holds(state.columns) & selected & eligible
            fired = history.held(rule.expr, rule.for_seconds, holds_now)
            if fired.any():
                matches.add(rule, fired, _limits(rule, state.columns, fired, options))
    return matches


def _limits(
    rule: Rule, columns: ColumnsByName, fired: Mask, options: EngineOptions
) -> dict[str, Floats]:
    """The rule's limit per direction on the rows where it fired (NaN elsewhere)."""
    result = {}
    for limit in rule.limits:
        values = np.where(fired, _limit_values(limit, columns), np.nan)
        floor = options.floor_iops if limit.direction in IOPS_DIRECTIONS else options.floor_bps
        with np.errstate(invalid="ignore"):
            rounded = np.floor(values + 0.5)
            clamped = np.clip(rounded, floor, MAX_LIMIT[limit.direction])
        result[limit.direction] = np.where(np.isfinite(values), clamped, np.nan)
    return result


def _limit_values(limit: Limit, columns: ColumnsByName) -> Floats:
    if limit.expression is not None:
        return limit.expression.numbers(columns)
    return np.full(columns.length, float(limit.number or 0))
