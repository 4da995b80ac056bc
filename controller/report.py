"""The grouped report of current and recent limits: records in, text out.

Grouped the way the alerts group in Alertmanager: by rule (``group/rule``), then namespace.
Limits a person set form their own section at the end. Four renderings: plain text, Markdown,
JSON, and the webhook payloads Alertmanager would deliver for these limits. Gathering the
records (Kubernetes, Prometheus) lives in :mod:`controller.report_sources`.
"""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from controller.alerts import Alert, LimitFacts, limit_alert
from controller.figures import format_limits, format_observed, rfc3339
from controller.webhook import webhook_payloads
from iops_limit.durations import format_duration

PERSON = "set by a person"


@dataclass(frozen=True)
class LimitRecord:
    """One container's limit, in force now or released within the report's window."""

    namespace: str
    pod: str
    container: str
    node: str
    group: str  # "" when a person set the limit
    rule: str
    limits: Mapping[str, float]  # direction (``write_iops``) -> value
    since: float | None  # None when unknown (a person's limit)
    released: float | None = None  # None while in force
    reason: str = ""
    severity: str = "warning"
    summary: str = ""
    observed_now: Mapping[str, float] = field(default_factory=dict)
    observed_at_decision: Mapping[str, float] = field(default_factory=dict)

    @property
    def rule_label(self) -> str:
        return f"{self.group}/{self.rule}" if self.rule else PERSON

    @property
    def in_force(self) -> bool:
        return self.released is None


@dataclass(frozen=True)
class Report:
    records: Sequence[LimitRecord]
    now: float
    window: float  # seconds back from ``now`` that released limits are shown for


def sections(
    records: Sequence[LimitRecord],
) -> list[tuple[str, list[tuple[str, list[LimitRecord]]]]]:
    """[(rule label, [(namespace, records)])]: rules by name (a person's last), records in
    force first, then by pod and container."""

    def order(record: LimitRecord) -> tuple[Any, ...]:
        return (
            record.rule == "",
            record.rule_label,
            record.namespace,
            not record.in_force,
            record.pod,
            record.container,
        )

    ordered = sorted(records, key=order)
    out = []
    for label, by_rule in groupby(ordered, key=lambda r: r.rule_label):
        namespaces = [(ns, list(rows)) for ns, rows in groupby(by_rule, key=lambda r: r.namespace)]
        out.append((label, namespaces))
    return out


def _counts(records: Sequence[LimitRecord]) -> str:
    active = sum(record.in_force for record in records)
    released = len(records) - active
    return f"{active} in force, {released} released"


def _ago(seconds: float) -> str:
    return format_duration(max(0.0, seconds)) + " ago"


def _at(epoch: float) -> str:
    return rfc3339(round(epoch))  # whole seconds read better; JSON keeps the fraction


def _when(record: LimitRecord, now: float) -> str:
    start = "since an unknown time" if record.since is None else f"since {_at(record.since)}"
    if record.since is not None and record.in_force:
        start += f" ({_ago(now - record.since)})"
    if record.released is not None:
        start += f", released {_at(record.released)} ({_ago(now - record.released)})"
    return start


def render_text(report: Report) -> str:
    lines = [
        f"IOPS limits at {_at(report.now)}, released ones from the last "
        f"{format_duration(report.window)}: {_counts(report.records)}",
    ]
    if not report.records:
        lines.append("No limits.")
    for label, namespaces in sections(report.records):
        rule_records = [record for _, rows in namespaces for record in rows]
        lines += ["", f"== {label} ({_counts(rule_records)})"]
        for namespace, rows in namespaces:
            lines.append(f"  namespace {namespace}")
            for record in rows:
                state = "" if record.in_force else "  [released]"
                lines.append(
                    f"    {record.pod}/{record.container} on {record.node or 'unknown node'}: "
                    f"{format_limits(record.limits)}{state}"
                )
                lines.append(f"      {_when(record, report.now)}")
                if record.in_force:
                    lines.append(f"      observed now: {format_observed(record.observed_now)}")
                lines.append(f"      at decision:  {format_observed(record.observed_at_decision)}")
                if record.reason:
                    lines.append(f"      reason: {record.reason}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    lines = [
        f"# IOPS limits at {_at(report.now)}",
        "",
        f"Released limits from the last {format_duration(report.window)}; "
        f"{_counts(report.records)}.",
    ]
    for label, namespaces in sections(report.records):
        lines += ["", f"## {_cell(label)}"]
        for namespace, rows in namespaces:
            lines += [
                "",
                f"### {_cell(namespace)}",
                "",
                "| pod | container | node | limit | state | observed now | at decision | reason |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for record in rows:
                cells = [
                    record.pod,
                    record.container,
                    record.node,
                    format_limits(record.limits),
                    _when(record, report.now),
                    format_observed(record.observed_now),
                    format_observed(record.observed_at_decision),
                    record.reason,
                ]
                lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _figures(values: Mapping[str, float]) -> dict[str, float]:
    return {name: value for name, value in values.items() if not math.isnan(value)}


def _time(epoch: float | None) -> str | None:
    return None if epoch is None else rfc3339(epoch)


def render_json(report: Report) -> str:
    rules = []
    for label, namespaces in sections(report.records):
        first = namespaces[0][1][0]
        rules.append(
            {
                "rule": label,
                "group": first.group,
                "name": first.rule,
                "namespaces": [
                    {
                        "namespace": namespace,
                        "limits": [
                            {
                                "pod": record.pod,
                                "container": record.container,
                                "node": record.node,
                                "limits": _figures(record.limits),
                                "since": _time(record.since),
                                "released": _time(record.released),
                                "inForce": record.in_force,
                                "observedNow": _figures(record.observed_now),
                                "observedAtDecision": _figures(record.observed_at_decision),
                                "reason": record.reason,
                            }
                            for record in rows
                        ],
                    }
                    for namespace, rows in namespaces
                ],
            }
        )
    document = {
        "generatedAt": rfc3339(report.now),
        "window": format_duration(report.window),
        "rules": rules,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_alertmanager(
    report: Report,
    *,
    group_by: Sequence[str],
    receiver: str,
    external_url: str,
    route_key: str = "{}",
) -> str:
    """The webhook payloads (a JSON list, one per group) for the rule-set limits.

    ``route_key`` is the Alertmanager route's key: ``{}`` for the root route, the matchers of
    each route down to it for a child route (``{}/{alertname="IOPSLimitApplied"}``).
    """
    # Alertmanager keeps one alert per label set: a limit set again after a release is the
    # same alert, so the newest episode (one in force before any released) stands for it.
    newest_first = sorted(
        (record for record in report.records if record.rule),
        key=lambda record: (record.in_force, record.released or 0.0),
        reverse=True,
    )
    alerts: dict[str, Alert] = {}
    for record in newest_first:
        alert = limit_alert(
            LimitFacts(
                namespace=record.namespace,
                pod=record.pod,
                container=record.container,
                node=record.node,
                group=record.group,
                rule=record.rule,
                severity=record.severity,
                summary=record.summary,
                reason=record.reason,
                limits=record.limits,
                since=record.since if record.since is not None else report.now,
            ),
            # Released means resolved by now: the gauge's last step may be ``now`` itself,
            # and the query's start rounded to milliseconds can put it a hair later.
            ends_at=None if record.released is None else min(record.released, report.now),
        )
        alerts.setdefault(alert.fingerprint, alert)
    payloads = webhook_payloads(
        alerts.values(),
        group_by=group_by,
        receiver=receiver,
        external_url=external_url,
        now=report.now,
        route_key=route_key,
    )
    return json.dumps(payloads, indent=2, ensure_ascii=False) + "\n"
