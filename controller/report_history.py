"""Recent limits from the controller's own gauge in Prometheus, and observed IO per record.

The controller exports ``iops_limit_applied{namespace,pod,container,direction,owner,rule}``
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

GAUGE_QUERY = "max by (namespace, pod, container, direction, owner, rule) (iops_limit_applied)"

RecordKey = tuple[str, str, str, str]  # namespace, pod, container, group/rule


def _key(record: LimitRecord) -> RecordKey:
    return (record.namespace, record.pod, record.container, record.rule_label)


def past_limits(series: Iterable[Mapping[str, Any]]) -> list[LimitRecord]:
    """Limits the gauge showed within the range, one record per container and rule.

    ``series`` is a range query's ``result`` (matrix). ``since`` is the first sample in the
    range (the window may cut off an earlier start), ``released`` the last one: whether the
    limit is still in force is for the annotations to say (:func:`combine`). Limits are the
    last value per direction.
    """
    spans: dict[RecordKey, dict[str, Any]] = {}
    for entry in series:
        metric = entry.get("metric") or {}
        values = entry.get("values") or []
        if not values or metric.get("direction") not in RATE_COLUMNS:
            continue
        group, _, rule = str(metric.get("rule") or "").partition("/")
        key = (
            str(metric.get("namespace") or ""),
            str(metric.get("pod") or ""),
            str(metric.get("container") or ""),
            f"{group}/{rule}" if rule else "",
        )
        span = spans.setdefault(
            key, {"group": group, "rule": rule, "first": math.inf, "last": -math.inf, "limits": {}}
        )
        first, last = float(values[0][0]), float(values[-1][0])
        span["first"] = min(span["first"], first)
        span["last"] = max(last, span["last"])
        span["limits"][metric["direction"]] = float(values[-1][1])
    records = []
    for (namespace, pod, container, _), span in spans.items():
        records.append(
            LimitRecord(
                namespace=namespace,
                pod=pod,
                container=container,
                node="",
                group=span["group"] if span["rule"] else "",
                rule=span["rule"],
                limits=dict(span["limits"]),
                since=span["first"],
                released=span["last"],
            )
        )
    return records


def combine(current: Sequence[LimitRecord], past: Sequence[LimitRecord]) -> list[LimitRecord]:
    """The limits in force (the annotations are the truth) plus those released in the window.

    A gauge record not in force any more was released at its last sample, give or take a
    scrape interval. The node comes from the record in force when there is one.
    """
    in_force = {_key(record) for record in current}
    return [*current, *(record for record in past if _key(record) not in in_force)]


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
