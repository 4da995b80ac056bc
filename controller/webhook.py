"""The webhook payloads Alertmanager would deliver for a set of alerts (version 4).

Alertmanager groups alerts by the route's ``group_by`` labels, one notification per group.
This module reproduces what it sends for a single route (the root, whose key is ``{}``):
``groupKey`` is ``<route key>:<group labels>`` with the labels printed as Go's
``model.LabelSet.String()`` does, alerts are ordered as its ``AlertSlice`` sorts them, firing
alerts carry the zero ``endsAt``, and common labels and annotations are those every alert of
the group shares. Key order follows Alertmanager's JSON so a diff against a delivered payload
reads cleanly.
"""

import functools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from controller.alerts import Alert
from controller.figures import rfc3339

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's time.Time{} in JSON, Alertmanager's "not resolved"


# Go's strconv.Quote names these control characters by letter; other controls are \xNN.
_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def _go_printable(char: str) -> bool:
    """Go's ``strconv.IsPrint``: letters, marks, numbers, punctuation, symbols and the ASCII
    space (other spaces, format and private-use characters are escaped)."""
    return char == " " or unicodedata.category(char)[0] in "LMNPS"


def go_quote(text: str) -> str:
    """A string as Go's ``strconv.Quote`` (``%q``) prints it."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif _go_printable(char):
            out.append(char)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def label_set_string(labels: Mapping[str, str]) -> str:
    """``{a="1", b="2"}``: Go's ``model.LabelSet.String()``."""
    return "{" + ", ".join(f"{name}={go_quote(labels[name])}" for name in sorted(labels)) + "}"


def group_key(group_labels: Mapping[str, str], route_key: str = "{}") -> str:
    return f"{route_key}:{label_set_string(group_labels)}"


def _labels_before(left: Mapping[str, str], right: Mapping[str, str]) -> bool:
    """prometheus/common ``LabelSet.Before``: fewer labels first, then the first differing pair."""
    if len(left) != len(right):
        return len(left) < len(right)
    for name in sorted({*left, *right}):
        if name not in left:
            return True
        if name not in right:
            return False
        if left[name] != right[name]:
            return left[name] < right[name]
    return False


def _alert_order(left: Alert, right: Alert) -> int:
    """Alertmanager's ``AlertSlice.Less``: by ``job``, then ``instance``, then all labels."""
    for override in ("job", "instance"):
        left_value, right_value = left.labels.get(override), right.labels.get(override)
        if left_value is None and right_value is None:
            continue
        if left_value is None:
            return 1
        if right_value is None:
            return -1
        if left_value != right_value:
            return -1 if left_value < right_value else 1
    if _labels_before(left.labels, right.labels):
        return -1
    return 1 if _labels_before(right.labels, left.labels) else 0


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    first, *rest = maps
    return {
        name: value
        for name, value in first.items()
        if all(other.get(name) == value for other in rest)
    }


def _webhook_alert(alert: Alert, now: float) -> dict[str, Any]:
    resolved = alert.resolved_at(now)
    return {
        "status": "resolved" if resolved else "firing",
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at) if resolved and alert.ends_at is not None else ZERO_TIME,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def webhook_payloads(
    alerts: Iterable[Alert],
    *,
    group_by: Sequence[str],
    receiver: str,
    external_url: str,
    now: float,
    route_key: str = "{}",
) -> list[dict[str, Any]]:
    """One payload per group, groups ordered by their group labels as Alertmanager lists them."""
    groups: dict[str, list[Alert]] = {}
    labels_of_group: dict[str, dict[str, str]] = {}
    for alert in alerts:
        labels = {name: alert.labels[name] for name in group_by if name in alert.labels}
        key = group_key(labels, route_key)
        groups.setdefault(key, []).append(alert)
        labels_of_group[key] = labels
    payloads = []
    for key in sorted(groups, key=lambda k: functools.cmp_to_key(_group_order)(labels_of_group[k])):
        members = sorted(groups[key], key=functools.cmp_to_key(_alert_order))
        entries = [_webhook_alert(alert, now) for alert in members]
        payloads.append(
            {
                "receiver": receiver,
                "status": "firing" if any(e["status"] == "firing" for e in entries) else "resolved",
                "alerts": entries,
                "groupLabels": labels_of_group[key],
                "commonLabels": _common([alert.labels for alert in members]),
                "commonAnnotations": _common([alert.annotations for alert in members]),
                "externalURL": external_url,
                "version": "4",
                "groupKey": key,
                "truncatedAlerts": 0,
            }
        )
    return payloads


def _group_order(left: Mapping[str, str], right: Mapping[str, str]) -> int:
    if _labels_before(left, right):
        return -1
    return 1 if _labels_before(right, left) else 0
