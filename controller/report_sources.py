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
import requests

from controller.figures import RATE_COLUMNS
from controller.ownership import Owner, classify
from controller.pods import PodInfo, standalone_index
from controller.prometheus import PrometheusError, PrometheusSource, resolve_standalone
from controller.report import LimitRecord
from controller.report_history import (
    GAUGE_QUERY,
    combine,
    observe,
    past_limits,
    rates_by_container,
)
from controller.rule_model import Rule, RuleSet
from iops_limit.redact import mask_secrets

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


def query_range(
    source: PrometheusSource, query: str, start: float, end: float, step: float
) -> list[dict[str, Any]]:
    """A range query through the source's transport (URL, token, TLS, headers)."""
    transport = source.transport
    headers = dict(transport.headers)
    if transport.token_file is not None:
        try:
            headers["Authorization"] = "Bearer " + transport.token_file.read_text().strip()
        except OSError as error:
            raise PrometheusError(f"cannot read {transport.token_file}: {error.strerror}") from None
    verify: bool | str = not transport.skip_verify
    if transport.ca_file is not None and verify:
        verify = str(transport.ca_file)
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    try:
        response = requests.get(
            f"{transport.url}/api/v1/query_range",
            params=params,
            headers=headers,
            verify=verify,
            timeout=transport.timeout,
        )
        body = response.json()
    except (requests.RequestException, ValueError) as error:
        # requests quotes the URL it could not use, user-info and all.
        reason = mask_secrets(f"{type(error).__name__}: {error}", headers.values())
        raise PrometheusError(f"{query}: {reason}", query) from None
    if response.status_code != 200 or body.get("status") != "success":
        reason = mask_secrets(
            str(body.get("error") or f"HTTP {response.status_code}"), headers.values()
        )
        raise PrometheusError(f"{query}: {reason}", query)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def history_step(window: float) -> float:
    """About 500 points per series over the window, at least a second apart.

    Fine enough that a limit held for a few seconds shows (a step point must fall inside it),
    coarse enough for a day's window; steps finer than the scrape interval cost nothing more.
    """
    return max(1.0, math.ceil(window / 500))


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
    series = query_range(source, GAUGE_QUERY, now - window, now, step)
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
