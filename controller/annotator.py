"""Decisions -> annotation merge patches and Events, and sending them.

:func:`plan` is pure: from the decisions and each pod's owner and record it works out, per pod,
the merge patch that takes its annotations to the new record (empty when nothing changes, so a
steady cycle writes nothing) and the Events to record. :class:`Annotator` sends them with
retries: 409/422 and 5xx are retried with backoff, 404 means the pod is gone.
"""

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from controller.kubeapi import KubeApi
from controller.metrics import ControllerMetrics
from controller.ownership import (
    DIRECTIONS,
    Held,
    Owner,
    PodLimits,
    limits_from_row,
    merge_patch,
    tampered,
    with_limit,
)
from controller.pods import Key, PodCache, PodInfo
from iops_limit.annotations import ContainerLimits
from iops_limit.kube import Conflict, KubeError, NotFound, Unavailable

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
CHANGING = ("apply", "update", "release")
_UNITS = {"read_iops": "IOPS", "write_iops": "IOPS", "read_bps": "B/s", "write_bps": "B/s"}


@dataclass(frozen=True)
class PodEvent:
    reason: str
    message: str
    warning: bool = False


@dataclass
class PodChange:
    """What one pod needs: the merge patch (None deletes a key) and the Events to record."""

    pod: PodInfo
    patch: dict[str, str | None]
    events: list[PodEvent] = field(default_factory=list)
    tampered: int = 0  # controller keys someone else changed, restored by this patch


def describe_limits(limits: ContainerLimits) -> str:
    parts = [
        f"{direction.split('_')[0]} {value} {_UNITS[direction]}"
        for direction in DIRECTIONS
        if (value := getattr(limits, direction)) is not None
    ]
    return ", ".join(parts) or "none"


def _observed(row: Mapping[str, object]) -> str:
    def figure(column: str) -> str:
        value = row.get(column)
        if isinstance(value, int | float) and not math.isnan(value):
            return f"{value:.0f}"
        return "no data"

    return f"observed read {figure('read_iops')} IOPS, write {figure('write_iops')} IOPS"


def plan(
    decisions: pd.DataFrame,
    owners: Mapping[Key, PodLimits],
    pods: Mapping[Key, PodInfo],
    now: float,
) -> list[PodChange]:
    """Per pod: the patch and Events for the decisions, restores of tampered keys, and the
    release of limits on pods that became exempt. Person-owned pods are never planned."""
    rows_by_pod: dict[Key, list[Mapping[str, object]]] = {}
    changing = decisions[decisions["action"].isin(CHANGING)]
    for record in changing.to_dict("records"):  # few rows: only the changes
        row = {str(column): value for column, value in record.items()}
        rows_by_pod.setdefault((str(row["namespace"]), str(row["pod"])), []).append(row)
    watched = {
        key for key, limits in owners.items() if limits.owner in (Owner.CONTROLLER, Owner.EXEMPT)
    }
    changes = []
    for key in sorted(rows_by_pod.keys() | watched):
        pod = pods.get(key)
        limits = owners.get(key, PodLimits(Owner.FREE))
        if pod is None or limits.owner is Owner.PERSON:
            continue
        change = _plan_pod(pod, limits, rows_by_pod.get(key, []), now)
        if change.patch:
            changes.append(change)
    return changes


def _plan_pod(
    pod: PodInfo, limits: PodLimits, rows: Iterable[Mapping[str, object]], now: float
) -> PodChange:
    before: Mapping[str, Held] = limits.held if limits.owner is not Owner.FREE else {}
    after = dict(before)
    events: list[PodEvent] = []
    restored = tampered(pod, before) if limits.owner is Owner.CONTROLLER else {}
    if restored:
        shown = ", ".join(
            f"{key}={found!r} (restored {expected!r})"
            for key, (found, expected) in sorted(restored.items())
        )
        events.append(
            PodEvent("IOPSLimitTampered", f"controller-owned keys changed: {shown}", warning=True)
        )
    if limits.owner is Owner.EXEMPT:
        for container, held in sorted(before.items()):
            after.pop(container)
            events.append(
                PodEvent(
                    "IOPSLimitReleased",
                    f"{container}: released {describe_limits(held.limits)}: the pod is exempt",
                )
            )
        rows = ()
    for row in rows:
        container = str(row["container"])
        action = str(row["action"])
        rule = f"{row.get('group', '')}/{row.get('rule', '')}"
        if action == "release":
            released = after.pop(container, None)
            if released is not None:
                events.append(
                    PodEvent(
                        "IOPSLimitReleased",
                        f"{container}: released {describe_limits(released.limits)} "
                        f"(rule {released.group}/{released.rule}); {_observed(row)}",
                    )
                )
            continue
        new = limits_from_row(row)
        if new.is_unlimited():
            continue
        old = after.get(container)
        reason = str(row.get("summary") or row.get("reason") or "")
        after[container] = with_limit(
            old,
            new,
            group=str(row.get("group", "")),
            rule=str(row.get("rule", "")),
            reason=reason,
            now=now,
        )
        if old is None:
            text = (
                f"{container}: limited to {describe_limits(new)} by rule {rule}; {_observed(row)}"
            )
            events.append(PodEvent("IOPSLimitApplied", text))
        else:
            text = (
                f"{container}: limit {describe_limits(old.limits)} -> {describe_limits(new)} "
                f"by rule {rule}; {_observed(row)}"
            )
            events.append(PodEvent("IOPSLimitUpdated", text))
    return PodChange(pod, merge_patch(pod, before, after), events, len(restored))


@dataclass(frozen=True)
class Sent:
    patched: int
    failed: int  # refused by the API after retries


class Annotator:
    """Sends planned changes; the pod cache learns each result at once from the response."""

    def __init__(
        self,
        api: KubeApi,
        cache: PodCache,
        metrics: ControllerMetrics,
        may_act: Callable[[], bool],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api
        self._cache = cache
        self._metrics = metrics
        self._may_act = may_act
        self._sleep = sleep

    def send(self, changes: Iterable[PodChange]) -> Sent:
        """Patch each pod and record its Events; returns how many patches were applied and how
        many the API refused for good (a pod that is gone is neither)."""
        done = failed = 0
        for change in changes:
            if not self._may_act():
                log.warning("lost leadership mid-cycle: leaving the remaining changes")
                break
            outcome = self._patch(change)
            failed += outcome is None
            if outcome:
                done += 1
                for event in change.events:
                    self._metrics.api_writes.labels(kind="event").inc()
                    self._api.event(
                        change.pod.ref(), event.reason, event.message, warning=event.warning
                    )
        return Sent(done, failed)

    def _patch(self, change: PodChange) -> bool | None:
        """True when patched, False when the pod is gone, None when the API refused."""
        pod = change.pod
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                self._metrics.api_writes.labels(kind="patch").inc()
                patched = self._api.patch_pod_annotations(pod.namespace, pod.name, change.patch)
            except NotFound:
                log.info("pod %s/%s is gone; dropping it", pod.namespace, pod.name)
                self._cache.forget(pod.namespace, pod.name)
                return False
            except (Conflict, Unavailable) as error:
                if delay is None or not self._may_act():
                    log.error(
                        "giving up on %s/%s after %d tries: %s",
                        pod.namespace,
                        pod.name,
                        attempt + 1,
                        error,
                    )
                    return None
                log.warning(
                    "patch %s/%s: %s; retrying in %.1fs", pod.namespace, pod.name, error, delay
                )
                self._sleep(delay)
                continue
            except KubeError as error:
                log.error("patch %s/%s refused: %s", pod.namespace, pod.name, error)
                return None
            self._cache.observe(patched)
            for event in change.events:
                log.info("%s %s/%s: %s", event.reason, pod.namespace, pod.name, event.message)
            return True
        return None
