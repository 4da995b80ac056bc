"""Who owns a pod's limits, and what the controller recorded about the limits it set.

A pod is in one of four hands:

- *controller*: ``iops-limit/managed-by: iops-controller``. The controller's record of what it
  set is the JSON in ``iops-limit/state`` (per container: limits, group, rule, since, changed,
  reason). The record, not the limit keys, is the truth: limit keys that differ from it were
  changed by someone else and are put back. The record makes decisions restart-safe (the
  applied frame is rebuilt from it) and carries per-container rule and timing that the
  pod-wide ``rule``/``since``/``reason`` keys cannot.
- *person*: limit keys without ``managed-by``. The controller never touches the pod; the engine
  sees its limits as applied with group and rule "" so no rule stacks a second limit on it.
  Removing ``managed-by`` from a controller pod is how a person takes its limits over.
- *exempt*: ``iops-limit/exempt: "true"`` in a namespace listed in ALLOW_EXEMPT_NAMESPACES. The
  controller does not limit it, and releases any limit it set there earlier.
- *free*: none of the above.
"""

import enum
import json
import logging
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from controller.pods import PodInfo
from iops_limit.annotations import (
    EXEMPT,
    MANAGED_BY,
    MANAGED_BY_CONTROLLER,
    PREFIX,
    REASON,
    RULE,
    SINCE,
    ContainerLimits,
    InvalidLimit,
    parse_pod_limits,
)

log = logging.getLogger(__name__)

STATE = PREFIX + "state"
DIRECTIONS = ("read_iops", "write_iops", "read_bps", "write_bps")
BOOKKEEPING_KEYS = (MANAGED_BY, STATE, RULE, SINCE, REASON)


class Owner(enum.Enum):
    CONTROLLER = "controller"
    PERSON = "person"
    EXEMPT = "exempt"
    FREE = "free"


def direction_key(direction: str, container: str) -> str:
    """``write_iops`` + ``mysql`` -> ``iops-limit/write-iops.mysql``."""
    return f"{PREFIX}{direction.replace('_', '-')}.{container}"


@dataclass(frozen=True)
class Held:
    """One container's limit as the controller recorded it."""

    limits: ContainerLimits
    group: str
    rule: str
    since: float
    changed: float
    reason: str = ""

    def values(self) -> dict[str, int | None]:
        return {direction: getattr(self.limits, direction) for direction in DIRECTIONS}


@dataclass(frozen=True)
class PodLimits:
    """A pod's owner and the limits held on it, per container."""

    owner: Owner
    held: Mapping[str, Held] = field(default_factory=dict)
    problem: str = ""  # why the record could not be read, or why a person's keys are invalid


def classify(pod: PodInfo, allow_exempt_namespaces: Collection[str]) -> PodLimits:
    annotations = pod.annotations
    if annotations.get(EXEMPT) == "true" and pod.namespace in allow_exempt_namespaces:
        return PodLimits(Owner.EXEMPT, read_record(pod)[0] if _is_managed(pod) else {})
    if _is_managed(pod):
        held, problem = read_record(pod)
        return PodLimits(Owner.CONTROLLER, held, problem)
    try:
        parsed = parse_pod_limits(annotations, pod.containers)
    except InvalidLimit as error:
        # A person's bad value: the node writer reports it; we keep away from the whole pod.
        return PodLimits(Owner.PERSON, {}, str(error))
    held = {
        container: Held(limits, "", "", 0.0, 0.0)
        for container, limits in parsed.items()
        if not limits.is_unlimited()
    }
    return PodLimits(Owner.PERSON, held) if held else PodLimits(Owner.FREE)


def _is_managed(pod: PodInfo) -> bool:
    return pod.annotations.get(MANAGED_BY) == MANAGED_BY_CONTROLLER


def read_record(pod: PodInfo) -> tuple[dict[str, Held], str]:
    """The controller's record on a managed pod, and a problem text if it had to be rebuilt."""
    text = pod.annotations.get(STATE, "")
    try:
        return _parse_record(text, pod.containers), ""
    except (ValueError, TypeError, KeyError) as error:
        problem = f"{STATE} unreadable ({error}); rebuilt from the limit keys"
        return _rebuild_record(pod), problem


def _parse_record(text: str, containers: Collection[str]) -> dict[str, Held]:
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    held: dict[str, Held] = {}
    for container, entry in raw.items():
        if container not in containers:
            continue  # a container that no longer exists in the pod spec holds nothing
        values = {d: _limit_value(entry.get(d)) for d in DIRECTIONS}
        held[container] = Held(
            ContainerLimits(**values),
            group=str(entry["group"]),
            rule=str(entry["rule"]),
            since=float(entry["since"]),
            changed=float(entry["changed"]),
            reason=str(entry.get("reason", "")),
        )
    return held


def _limit_value(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"bad limit value {value!r}")
    return value


def _rebuild_record(pod: PodInfo) -> dict[str, Held]:
    """Best effort from the per-container limit keys the controller writes and ``since``."""
    since = parse_time(pod.annotations.get(SINCE, ""))
    group, _, rule = pod.annotations.get(RULE, "").partition("/")
    held: dict[str, Held] = {}
    for container in pod.containers:
        values: dict[str, int | None] = {}
        for direction in DIRECTIONS:
            text = pod.annotations.get(direction_key(direction, container), "")
            values[direction] = int(text) if text.isascii() and text.isdigit() else None
        limits = ContainerLimits(**values)
        if not limits.is_unlimited():
            held[container] = Held(limits, group, rule, since, since)
    return held


def record_annotations(held: Mapping[str, Held]) -> dict[str, str]:
    """Every annotation the controller owns for this set of held limits ({} when none)."""
    if not held:
        return {}
    out: dict[str, str] = {MANAGED_BY: MANAGED_BY_CONTROLLER}
    record = {}
    for container in sorted(held):
        entry = held[container]
        record[container] = {
            **{d: v for d, v in entry.values().items() if v is not None},
            "group": entry.group,
            "rule": entry.rule,
            "since": round(entry.since, 3),
            "changed": round(entry.changed, 3),
            "reason": entry.reason,
        }
        for direction, value in entry.values().items():
            if value is not None:
                out[direction_key(direction, container)] = str(value)
    out[STATE] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    rules = sorted({f"{h.group}/{h.rule}" for h in held.values()})
    out[RULE] = ",".join(rules)
    out[SINCE] = format_time(min(h.since for h in held.values()))
    out[REASON] = "; ".join(h.reason for _, h in sorted(held.items()) if h.reason)[:1024]
    return out


def owned_keys(pod: PodInfo, held: Mapping[str, Held]) -> set[str]:
    """Keys the controller may delete on this pod: bookkeeping, and limit keys of its record."""
    keys = set(BOOKKEEPING_KEYS)
    for container in pod.containers:
        for direction in DIRECTIONS:
            if container in held:
                keys.add(direction_key(direction, container))
    return keys


def merge_patch(
    pod: PodInfo, before: Mapping[str, Held], after: Mapping[str, Held]
) -> dict[str, str | None]:
    """The annotation merge patch taking the pod to ``after`` (None deletes); {} when in place.

    ``before`` says which keys are the controller's to remove; keys a person added stay.
    """
    wanted = record_annotations(after)
    patch: dict[str, str | None] = {
        key: value for key, value in wanted.items() if pod.annotations.get(key) != value
    }
    for key in owned_keys(pod, before) | owned_keys(pod, after):
        if key not in wanted and key in pod.annotations:
            patch[key] = None
    return patch


def tampered(pod: PodInfo, held: Mapping[str, Held]) -> dict[str, tuple[str | None, str | None]]:
    """Controller keys whose value differs from the record: key -> (found, expected)."""
    patch = merge_patch(pod, held, held)
    return {key: (pod.annotations.get(key), value) for key, value in patch.items()}


def with_limit(
    held: Held | None, limits: ContainerLimits, *, group: str, rule: str, reason: str, now: float
) -> Held:
    """The record after an apply or update at ``now``; ``since`` survives an update."""
    if held is None:
        return Held(limits, group, rule, now, now, reason)
    return replace(held, limits=limits, group=group, rule=rule, changed=now, reason=reason)


def limits_from_row(values: Mapping[str, object]) -> ContainerLimits:
    """Limits from a decision row's ``limit_*`` columns (NaN = none), rounded to integers."""
    out: dict[str, int | None] = {}
    for direction in DIRECTIONS:
        value = values.get("limit_" + direction)
        number = float(value) if isinstance(value, int | float) else math.nan
        out[direction] = None if math.isnan(number) or number < 1 else round(number)
    return ContainerLimits(**out)


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
