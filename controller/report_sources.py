"""Gathering the report's records at the edges: Kubernetes, Prometheus and the rule files.

- Limits in force: the pods' annotations (the controller's record, or a person's keys).
- Recent limits: the controller's gauge ``iops_limit_applied`` over the window, from
  Prometheus, so they survive controller restarts.
- Observed IO now and at each limit's ``since``: the same per-container rate queries the
  controller decides on.
- Severity and summary: the rule files, when readable (the records do not keep them).
"""

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from controller.figures import RATE_COLUMNS
from controller.ownership import Owner, classify
from controller.pods import PodInfo, standalone_index
from controller.prometheus import PrometheusSource, resolve_standalone
from controller.report import LimitRecord
from controller.report_history import (
    GAUGE_QUERY,
    combine,
    history_step,
    observe,
    past_limits,
    rates_by_container,
)
from controller.rule_model import Rule, RuleSet

log = logging.getLogger(__name__)

# Instant queries for "observed at decision" are one round of rate queries per distinct
# ``since``; past this many, the oldest go without (the reason still carries the figures).
MAX_DECISION_LOOKUPS = 50


def records_in_force(
    pods: Iterable[PodInfo], allow_exempt_namespaces: Sequence[str]
) -> list[LimitRecord]:
    """One record per container with a limit held by the controller or set by a person."""
    records = []
    for pod in pods:
        limits = classify(pod, allow_exempt_namespaces)
        if limits.owner not in (Owner.CONTROLLER, Owner.PERSON):
            continue
        for container, held in sorted(limits.held.items()):
            records.append(
                LimitRecord(
                    namespace=pod.namespace,
                    pod=pod.name,
                    container=container,
                    node=pod.node,
                    group=held.group if held.rule else "",
                    rule=held.rule,
                    limits={d: float(v) for d, v in held.values().items() if v is not None},
                    since=held.since or None,
                    reason=held.reason,
                )
            )
    return records


def gather_from_prometheus(
    source: PrometheusSource,
    current: Sequence[LimitRecord],
    window: float,
    now: float,
    *,
    pods: Iterable[PodInfo] = (),
    min_hold: float = 0.0,
) -> list[LimitRecord]:
    """In-force records plus those released within the window, with observed IO.

    Standalone-cAdvisor series are mapped to ``pods`` as the cycle maps them. ``min_hold`` is
    the controller's ``MIN_HOLD``: a gap in the gauge shorter than that cannot be a release
    and a new limit (they are at least that far apart), only missed scrapes.
    """
    index = standalone_index(pods)

    def rates_at(moment: float) -> dict[tuple[str, str, str], dict[str, float]]:
        return rates_by_container(resolve_standalone(source.current(moment), index))

    step = history_step(window)
    series = source.range_query(GAUGE_QUERY, now - window, now, step)
    records = combine(current, past_limits(series, step, min_gap=min_hold))
    rates_now = rates_at(now)
    sinces = sorted({r.since for r in records if r.since is not None}, reverse=True)
    if len(sinces) > MAX_DECISION_LOOKUPS:
        log.warning(
            "observed IO at decision time looked up for the newest %d of %d limits",
            MAX_DECISION_LOOKUPS,
            len(sinces),
        )
    at = {since: rates_at(since) for since in sinces[:MAX_DECISION_LOOKUPS]}
    return observe(records, rates_now, at)


def with_rule_details(records: Sequence[LimitRecord], rules: RuleSet) -> list[LimitRecord]:
    """Severity and summary from the rule that set each limit, as its alert carried them.

    The summary is rendered with the figures observed at decision time; a rule no longer in
    the files leaves the record's defaults.
    """
    by_name = {(rule.group, rule.name): rule for rule in rules.rules()}
    out = []
    for record in records:
        rule = by_name.get((record.group, record.rule))
        if rule is None:
            out.append(record)
            continue
        out.append(
            dataclasses.replace(
                record, severity=rule.severity, summary=_summary(rule, record) or record.summary
            )
        )
    return out


def _summary(rule: Rule, record: LimitRecord) -> str:
    if rule.summary is None:
        return ""
    figures: Mapping[str, float] = record.observed_at_decision
    values: dict[str, Any] = {
        "namespace": record.namespace,
        "pod": record.pod,
        "container": record.container,
        "node": record.node,
        **{f"limit_{d}": record.limits.get(d, math.nan) for d in RATE_COLUMNS},
        **{d: figures.get(d, math.nan) for d in RATE_COLUMNS},
        "total_iops": figures.get("read_iops", math.nan) + figures.get("write_iops", math.nan),
    }
    if any(column not in values for column in rule.summary.columns):
        return ""
    columns = {column: np.array([values[column]], dtype=object) for column in rule.summary.columns}
    try:
        return str(rule.summary.render(columns, 1)[0])
    except (ValueError, TypeError):
        return ""
