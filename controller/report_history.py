"""Recent limits from the controller's own gauge in Prometheus, and observed IO per record.

The controller exports
``iops_limit_applied{namespace,pod,container,direction,owner,rule,node}``
(``rule`` is ``group/rule``, "" for a person's limit) while a limit is in force. A range query
of it over the report's window tells which limits existed, from when to when, even across
controller restarts. Pure functions here: Prometheus' JSON in, :class:`LimitRecord` out.
"""

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from controller.figures import RATE_COLUMNS
from controller.report import LimitRecord

GAUGE_QUERY = (
    "max by (namespace, pod, container, direction, owner, rule, node) (iops_limit_applied)"
)

RecordKey = tuple[str, str, str, str]  # namespace, pod, container, group/rule

# A range query answers at every step while the gauge is exported; a step missing (more than
# this many steps between two samples) means the limit was released and later set again.
GAP_STEPS = 1.5


def history_step(window: float) -> float:
    """About 500 points per series over the window, at least a second apart.

    Fine enough that a limit held for a few seconds shows (a step point must fall inside it),
    coarse enough for a day's window; steps finer than the scrape interval cost nothing more.
    """
    return max(1.0, math.ceil(window / 500))


def _key(record: LimitRecord) -> RecordKey:
    return (record.namespace, record.pod, record.container, record.rule_label)


@dataclasses.dataclass
class _Samples:
    """Every sample of one container and rule, across directions and nodes."""

    group: str
    rule: str
    points: list[tuple[float, str, float, str]] = dataclasses.field(default_factory=list)
    # (time, direction, value, node)


def _episodes(
    points: list[tuple[float, str, float, str]], gap: float
) -> list[list[tuple[float, str, float, str]]]:
    """The samples split where the gauge was absent for longer than ``gap`` seconds."""
    runs: list[list[tuple[float, str, float, str]]] = []
    for point in sorted(points):
        if runs and point[0] - runs[-1][-1][0] <= gap:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def past_limits(
    series: Iterable[Mapping[str, Any]], step: float, min_gap: float = 0.0
) -> list[LimitRecord]:
    """Limits the gauge showed within the range, one record per container, rule and episode.

    ``series`` is a range query's ``result`` (matrix) at ``step`` seconds. A limit released and
    set again is two records: the gauge absent for more than ``GAP_STEPS`` steps and at least
    ``min_gap`` seconds (shorter gaps are missed scrapes, a controller restart). ``since`` is
    an episode's first sample (the window may cut off an earlier start), ``released`` its last
    one: whether the limit is still in force is for the annotations to say (:func:`combine`).
    Limits are the last value per direction, the node the last one the gauge named.
    """
    by_key: dict[RecordKey, _Samples] = {}
    for entry in series:
        metric = entry.get("metric") or {}
        values = entry.get("values") or []
        direction = metric.get("direction")
        if not values or direction not in RATE_COLUMNS:
            continue
        group, _, rule = str(metric.get("rule") or "").partition("/")
        key = (
            str(metric.get("namespace") or ""),
            str(metric.get("pod") or ""),
            str(metric.get("container") or ""),
            f"{group}/{rule}" if rule else "",
        )
        samples = by_key.setdefault(key, _Samples(group, rule))
        node = str(metric.get("node") or "")
        samples.points += [(float(t), direction, float(v), node) for t, v in values]
    records = []
    for (namespace, pod, container, _), samples in by_key.items():
        for run in _episodes(samples.points, max(GAP_STEPS * step, min_gap)):
            nodes = [node for *_, node in run if node]
            records.append(
                LimitRecord(
                    namespace=namespace,
                    pod=pod,
                    container=container,
                    node=nodes[-1] if nodes else "",
                    group=samples.group if samples.rule else "",
                    rule=samples.rule,
                    limits={direction: value for _, direction, value, _ in run},
                    since=run[0][0],
                    released=run[-1][0],
                )
            )
    return records


def combine(current: Sequence[LimitRecord], past: Sequence[LimitRecord]) -> list[LimitRecord]:
    """The limits in force (the annotations are the truth) plus those released in the window.

    A gauge episode that reaches into a limit in force (its last sample at or after the
    limit's ``since``) is that limit; earlier episodes of the same container and rule were
    released at their last sample, give or take a scrape interval.
    """
    in_force: dict[RecordKey, float] = {}
    for record in current:
        since = -math.inf if record.since is None else record.since
        in_force[_key(record)] = min(since, in_force.get(_key(record), math.inf))
    released = [
        record
        for record in past
        if _key(record) not in in_force or (record.released or 0.0) < in_force[_key(record)]
    ]
    return [*current, *released]


def rates_by_container(frame: pd.DataFrame) -> dict[tuple[str, str, str], dict[str, float]]:
    """The engine's current frame as (namespace, pod, container) -> rate per direction."""
    if frame.empty:
        return {}
    columns = [column for column in RATE_COLUMNS if column in frame.columns]
    return {
        (str(row["namespace"]), str(row["pod"]), str(row["container"])): {
            column: float(row[column]) for column in columns
        }
        for row in frame.to_dict("records")
    }


def observe(
    records: Sequence[LimitRecord],
    now: Mapping[tuple[str, str, str], Mapping[str, float]],
    at: Mapping[float, Mapping[tuple[str, str, str], Mapping[str, float]]],
) -> list[LimitRecord]:
    """Fill in observed IO now (limits in force only) and at each record's ``since``."""
    out = []
    for record in records:
        key = (record.namespace, record.pod, record.container)
        decision = at.get(record.since, {}) if record.since is not None else {}
        out.append(
            dataclasses.replace(
                record,
                observed_now=dict(now.get(key, {})) if record.in_force else {},
                observed_at_decision=dict(decision.get(key, {})),
            )
        )
    return out
