"""Alerts the controller raises, in Alertmanager's terms, and the book of what is firing.

One ``IOPSLimitApplied`` alert per container the controller limits, and one
``IOPSControllerDegraded`` alert per cause while the controller cannot do its job. The
:class:`AlertBook` turns "what is active this cycle" into the batch to post: active alerts
carry an ``endsAt`` a few cycles ahead (so Alertmanager resolves them by itself if the
controller dies), alerts that stopped being active are sent as resolved for a while, the way
Prometheus does it.
"""

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import pandas as pd

from controller.figures import LIMIT_COLUMNS, format_limits, rfc3339

LIMIT_ALERT = "IOPSLimitApplied"
DEGRADED_ALERT = "IOPSControllerDegraded"
# Actions after which a container is limited by a rule (interfaces.md, decisions frame).
LIMITED_ACTIONS = frozenset({"apply", "update", "keep"})

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's alert identity: FNV-1a 64 over sorted names and values, 0xff-separated.

    The same as ``model.LabelSet.Fingerprint()`` of prometheus/common, as 16 hex digits.
    """
    value = _FNV_OFFSET
    for name in sorted(labels):
        for byte in name.encode() + b"\xff" + labels[name].encode() + b"\xff":
            value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


@dataclasses.dataclass(frozen=True)
class Alert:
    """One alert; ``ends_at`` None means "firing until told otherwise"."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None = None
    generator_url: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    def resolved_at(self, now: float) -> bool:
        return self.ends_at is not None and self.ends_at <= now

    def to_api(self) -> dict[str, Any]:
        """The body of one alert in ``POST /api/v2/alerts``."""
        body: dict[str, Any] = {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": rfc3339(self.starts_at),
        }
        if self.ends_at is not None:
            body["endsAt"] = rfc3339(self.ends_at)
        if self.generator_url:
            body["generatorURL"] = self.generator_url
        return body


def make_alert(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    starts_at: float,
    ends_at: float | None = None,
) -> Alert:
    """An alert with empty labels left out, as Alertmanager's API drops them on receipt."""
    return Alert(
        labels={name: value for name, value in labels.items() if value},
        annotations={name: value for name, value in annotations.items() if value},
        starts_at=starts_at,
        ends_at=ends_at,
    )


@dataclasses.dataclass(frozen=True)
class LimitFacts:
    """What an ``IOPSLimitApplied`` alert says about one limited container."""

    namespace: str
    pod: str
    container: str
    node: str
    group: str
    rule: str
    severity: str
    summary: str
    reason: str
    limits: Mapping[str, float]  # direction (``write_iops``) -> value; NaN or absent = none
    since: float


def limit_alert(facts: LimitFacts, ends_at: float | None = None) -> Alert:
    """The alert for one limit; the report builds the same one from annotations and history."""
    labels = {
        "alertname": LIMIT_ALERT,
        "rule": facts.rule,
        "group": facts.group,
        "severity": facts.severity or "warning",
        "namespace": facts.namespace,
        "pod": facts.pod,
        "container": facts.container,
        "node": facts.node,
    }
    parts = [facts.reason.rstrip(". "), f"Limit: {format_limits(facts.limits)}"]
    parts.append(f"Since {rfc3339(facts.since)}")
    description = ". ".join(part for part in parts if part) + "."
    return make_alert(
        labels, {"summary": facts.summary, "description": description}, facts.since, ends_at
    )


def limit_alerts(
    decisions: pd.DataFrame, since: Mapping[tuple[str, str, str], float], now: float
) -> list[Alert]:
    """One firing alert per container a rule limits after this cycle's decisions.

    ``since`` maps (namespace, pod, container) to when its limit was first applied (the applied
    frame's ``since``); a container missing there was limited this cycle, so since = now.
    Limits a person set (empty ``rule``) are theirs, not alerts of ours.
    """
    alerts = []
    for row in decisions.to_dict("records"):
        if row["action"] not in LIMITED_ACTIONS or not row["rule"]:
            continue
        key = (str(row["namespace"]), str(row["pod"]), str(row["container"]))
        facts = LimitFacts(
            namespace=key[0],
            pod=key[1],
            container=key[2],
            node=str(row.get("node") or ""),
            group=str(row.get("group") or ""),
            rule=str(row["rule"]),
            severity=str(row.get("severity") or "warning"),
            summary=str(row.get("summary") or ""),
            reason=str(row.get("reason") or ""),
            limits={d: _number(row.get(column)) for d, column in LIMIT_COLUMNS.items()},
            since=since.get(key, now),
        )
        alerts.append(limit_alert(facts))
    return alerts


def limited_keys(decisions: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(namespace, pod, container) of every container a rule limits after the decisions."""
    limited = decisions[decisions["action"].isin(LIMITED_ACTIONS) & (decisions["rule"] != "")]
    return list(zip(limited["namespace"], limited["pod"], limited["container"], strict=True))


def degraded_alerts(problems: Mapping[str, str], now: float) -> list[Alert]:
    """One alert per cause (``prometheus``, ``rules``) that keeps the controller from working.

    ``problems`` maps the cause to what went wrong; the book keeps the first ``startsAt``.
    """
    return [
        make_alert(
            {"alertname": DEGRADED_ALERT, "cause": cause, "severity": "warning"},
            {
                "summary": f"iops-controller is degraded: {cause}",
                "description": message,
            },
            now,
        )
        for cause, message in sorted(problems.items())
    ]


class AlertBook:
    """Remembers what was firing, so one cycle's active alerts become a complete batch.

    Active alerts keep their earliest ``startsAt`` and get ``endsAt = now + valid_for``; alerts
    no longer active are sent resolved (``endsAt`` = when they stopped) for
    ``resolved_retention`` seconds, so a resolve survives a missed delivery.
    """

    def __init__(self, valid_for: float, resolved_retention: float = 900.0) -> None:
        self._valid_for = valid_for
        self._retention = resolved_retention
        self._firing: dict[str, Alert] = {}
        self._resolved: dict[str, Alert] = {}

    def update(self, active: Iterable[Alert], now: float) -> list[Alert]:
        firing: dict[str, Alert] = {}
        for alert in active:
            previous = self._firing.get(alert.fingerprint)
            starts_at = min(previous.starts_at, alert.starts_at) if previous else alert.starts_at
            firing[alert.fingerprint] = dataclasses.replace(
                alert, starts_at=starts_at, ends_at=now + self._valid_for
            )
        for key, alert in self._firing.items():
            if key not in firing:
                self._resolved[key] = dataclasses.replace(alert, ends_at=now)
        self._resolved = {
            key: alert
            for key, alert in self._resolved.items()
            if key not in firing
            and alert.ends_at is not None
            and now - alert.ends_at < self._retention
        }
        self._firing = firing
        return [*firing.values(), *self._resolved.values()]


def _number(value: object) -> float:
    if value is None:
        return math.nan
    return float(value)  # type: ignore[arg-type]


class Sender(Protocol):
    def send(self, alerts: Sequence[Alert]) -> None: ...


class Alerting:
    """What the cycle calls once per evaluation: build, book-keep, hand to the sender.

    ``publish`` never blocks on the network (the sender delivers in the background). When the
    cycle has no decisions (Prometheus down, rules invalid), the limits that were firing stay
    firing: they are still applied on the nodes. ``dry_run`` marks limit alerts with the
    label ``dry_run="true"``: the limit was decided, not written.
    """

    def __init__(
        self,
        sender: Sender,
        valid_for: float,
        resolved_retention: float = 900.0,
        *,
        dry_run: bool = False,
    ) -> None:
        self._sender = sender
        self._dry_run = dry_run
        self._book = AlertBook(valid_for, resolved_retention)
        self._limits: list[Alert] = []
        self._since: dict[tuple[str, str, str], float] = {}

    def publish(
        self,
        decisions: pd.DataFrame | None,
        since: Mapping[tuple[str, str, str], float],
        problems: Mapping[str, str],
        now: float,
    ) -> list[Alert]:
        """Hand this cycle's batch to the sender and return it (what was sent, for reports).

        ``since``: (namespace, pod, container) -> when its limit was first applied, as the
        controller's record says; a limit missing there is dated when first seen here.
        """
        if decisions is not None:
            self._since = {
                key: since.get(key, self._since.get(key, now)) for key in limited_keys(decisions)
            }
            built = limit_alerts(decisions, self._since, now)
            if self._dry_run:
                built = [
                    dataclasses.replace(alert, labels={**alert.labels, "dry_run": "true"})
                    for alert in built
                ]
            self._limits = [self._steady(alert) for alert in built]
        batch = self._book.update([*self._limits, *degraded_alerts(problems, now)], now)
        self._sender.send(batch)
        return batch

    def _steady(self, alert: Alert) -> Alert:
        """The alert with the labels it was first sent with, for as long as the limit lasts.

        Labels are the alert's identity: a cycle whose row lacks a figure (a container
        Prometheus had no data for keeps its limit, without node or rule details) must not
        resolve the alert and open another. A summary the row lacks is kept too.
        """
        previous = next(
            (old for old in self._limits if _limit_identity(old) == _limit_identity(alert)), None
        )
        if previous is None:
            return alert
        annotations = {**previous.annotations, **alert.annotations}
        return dataclasses.replace(alert, labels=previous.labels, annotations=annotations)


def _limit_identity(alert: Alert) -> tuple[str, ...]:
    return tuple(
        alert.labels.get(name, "") for name in ("namespace", "pod", "container", "group", "rule")
    )
