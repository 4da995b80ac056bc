"""Desired state from pods -> cgroup files, with Events for every outcome.

What is applied is never remembered apart from the cgroup files: each reconciliation reads the
files and writes the difference, so a restarted writer restores exactly the annotated state and
a restarted container (new ID, new cgroup) gets its limits again. The only memory kept is per
pod: its last valid limits (an invalid annotation keeps them), which Events were already
posted (so a resync does not repeat them), and which containers it limited, so that a pod
that becomes excluded (say, by a label change) is cleared before it is left alone. That memory
is this process's: a pod excluded by a setting changed over a restart keeps what an earlier
writer set, since the files do not say who wrote them (``reset`` run with the old exclusion
settings clears it).
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from iops_limit.annotations import (
    NO_LIMITS,
    PREFIX,
    ContainerLimits,
    InvalidLimit,
    is_annotated,
    parse_pod_limits,
)
from node_writer.cgroup_paths import CgroupLayout, CgroupPathError
from node_writer.devices import Device
from node_writer.metrics import WriterMetrics
from node_writer.pods import Exclusions, PodView
from node_writer.throttle import CgroupGone, Throttle, ThrottleError, WriteFailed

log = logging.getLogger(__name__)

APPLIED = "IOPSLimitApplied"
CLEARED = "IOPSLimitCleared"
FAILED = "IOPSLimitFailed"
INVALID = "InvalidIOPSLimit"

_EXCLUDED = " (now excluded: EXCLUDE_NAMESPACES, EXCLUDE_KEYWORDS or EXCLUDE_LABEL_SELECTOR)"


class EventSink(Protocol):
    def __call__(self, pod: PodView, reason: str, message: str, warning: bool) -> None: ...


@dataclass
class _PodState:
    pod: PodView
    # What each container should have from the last valid annotations, CONTAINER_IOPS_LIMIT
    # already applied; None = never valid. Whether a container counts as annotated is decided
    # with the limits: a rejected key must not make it "unannotated" and hand it the default.
    good: dict[str, ContainerLimits] | None = None
    # The iops-limit/* annotations last rejected: posted as InvalidIOPSLimit and counted once.
    rejected: dict[str, str] | None = None
    failures: dict[str, str] = field(default_factory=dict)  # container -> message last posted
    # Containers whose cgroup holds a limit this writer wants there: what it clears when the
    # pod or container becomes excluded (by a label or image change) and is left alone after.
    limited: set[str] = field(default_factory=set)


class Reconciler:
    """Makes the cgroup files of the node's containers match their pods' annotations.

    Thread-safe: the watch and the periodic resync call it from different threads.
    """

    def __init__(
        self,
        *,
        layout: CgroupLayout,
        devices: tuple[Device, ...],
        throttle: Throttle,
        exclusions: Exclusions,
        default_iops: int,
        events: EventSink,
        metrics: WriterMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._layout = layout
        self._devices = devices
        self._throttle = throttle
        self._exclusions = exclusions
        self._default = (
            ContainerLimits(read_iops=default_iops, write_iops=default_iops)
            if default_iops
            else ContainerLimits()
        )
        self._events = events
        self._metrics = metrics
        self._clock = clock
        self._pods: dict[str, _PodState] = {}
        self._lock = threading.Lock()

    def replace_all(self, pods: Iterable[PodView]) -> None:
        """After a (re)list: these are all the node's pods; forget the others."""
        pods = list(pods)
        with self._lock:
            for uid in set(self._pods) - {pod.uid for pod in pods}:
                self._forget(uid)
        for pod in pods:
            self.update(pod)

    def update(self, pod: PodView) -> None:
        started = self._clock()
        with self._lock:
            wrote = self._reconcile(pod)
        if wrote:
            self._metrics.apply_seconds.observe(self._clock() - started)

    def delete(self, uid: str) -> None:
        with self._lock:
            self._forget(uid)

    def resync(self) -> None:
        """Re-check every known pod against the files (catches edits made behind our back)."""
        with self._lock:
            pods = [state.pod for state in self._pods.values()]
        for pod in pods:
            self.update(pod)

    def pod_count(self) -> int:
        with self._lock:
            return len(self._pods)

    def _forget(self, uid: str) -> None:
        state = self._pods.pop(uid, None)
        if state is not None:
            if state.failures:
                self._count_failing()
            for container in state.pod.containers:
                self._metrics.forget(state.pod.namespace, state.pod.name, container.name)

    def _reconcile(self, pod: PodView) -> bool:
        state = self._pods.get(pod.uid)
        if self._exclusions.pod(pod):
            if state is None:
                return False
            state.pod = pod
            return self._release(state)
        if state is None:
            state = self._pods[pod.uid] = _PodState(pod)
        state.pod = pod
        limits = self._desired(state)
        if limits is None:
            return False
        wrote = False
        for container in pod.containers:
            if container.container_id is None:
                continue
            if self._exclusions.container(container):
                if container.name in state.limited:
                    wrote |= self._apply(
                        state, container.name, container.container_id, NO_LIMITS, _EXCLUDED
                    )
                continue
            wanted = limits[container.name]
            wrote |= self._apply(state, container.name, container.container_id, wanted)
        return wrote

    def _release(self, state: _PodState) -> bool:
        """Clear what the writer set on a pod that is now excluded, then forget the pod.

        A pod stays known until every clear succeeded, so a resync retries a failed one.
        """
        wrote = False
        for container in state.pod.containers:
            if container.name not in state.limited:
                continue
            if container.container_id is None:
                state.limited.discard(container.name)  # not running: no cgroup holds a limit
                continue
            wrote |= self._apply(
                state, container.name, container.container_id, NO_LIMITS, _EXCLUDED
            )
        if not state.limited:
            self._forget(state.pod.uid)
        return wrote

    def _desired(self, state: _PodState) -> dict[str, ContainerLimits] | None:
        pod = state.pod
        try:
            parsed = parse_pod_limits(pod.annotations, [c.name for c in pod.containers])
            state.good = {
                name: limits if is_annotated(pod.annotations, name) else self._default
                for name, limits in parsed.items()
            }
            state.rejected = None
        except InvalidLimit as error:
            rejected = {
                key: value for key, value in pod.annotations.items() if key.startswith(PREFIX)
            }
            if state.rejected != rejected:
                state.rejected = rejected
                self._metrics.invalid_annotations.inc()
                kept = "keeping the last valid limits" if state.good else "nothing is written"
                message = f"{error}; {kept}"
                log.warning("%s: %s", pod.key, message)
                self._events(pod, INVALID, message, True)
        return state.good

    def _apply(
        self,
        state: _PodState,
        container: str,
        container_id: str,
        wanted: ContainerLimits,
        why: str = "",
    ) -> bool:
        pod = state.pod
        try:
            cgroup = self._layout.container_dir(pod.uid, pod.qos, container_id)
            if not os.path.isdir(cgroup):
                # Not created yet, or already gone: the next pod update or resync catches up.
                log.debug("%s %s: no cgroup at %s yet", pod.key, container, cgroup)
                return self._no_cgroup(state, container, wanted)
            changed = {
                device: self._throttle.apply(cgroup, device, wanted) for device in self._devices
            }
        except CgroupGone as error:
            log.debug("%s %s: %s", pod.key, container, error)
            return self._no_cgroup(state, container, wanted)
        except (CgroupPathError, ThrottleError) as error:
            if isinstance(error, WriteFailed):
                self._metrics.writes.labels("failed").inc()
            message = f"container {container}: {error}"
            if state.failures.get(container) != message:
                state.failures[container] = message
                self._count_failing()
                log.error("%s: %s", pod.key, message)
                self._events(pod, FAILED, message, True)
            return False
        self._no_failure(state, container)
        if wanted.is_unlimited():
            state.limited.discard(container)
        else:
            state.limited.add(container)
        self._metrics.record_limits(pod.namespace, pod.name, container, wanted)
        if not any(changed.values()):
            return False
        self._metrics.writes.labels("ok").inc()
        devices = ",".join(str(device) for device in self._devices)
        if wanted.is_unlimited():
            message = f"container {container}: limits cleared on {devices}{why}"
            reason = CLEARED
        else:
            message = f"container {container}: {describe(wanted)} on {devices}"
            reason = APPLIED
        log.info("%s: %s", pod.key, message)
        self._events(pod, reason, message, False)
        return True

    def _no_failure(self, state: _PodState, container: str) -> None:
        if state.failures.pop(container, None) is not None:
            self._count_failing()

    def _count_failing(self) -> None:
        failing = sum(len(state.failures) for state in self._pods.values())
        self._metrics.failing_containers.set(failing)

    def _no_cgroup(self, state: _PodState, container: str, wanted: ContainerLimits) -> bool:
        """A container without a cgroup holds no limit: one meant to be cleared is done."""
        self._no_failure(state, container)
        if wanted.is_unlimited():
            state.limited.discard(container)
            self._metrics.forget(state.pod.namespace, state.pod.name, container)
        return False


def describe(limits: ContainerLimits) -> str:
    """``write_iops=200 read_bps=1000000``, or ``unlimited``."""
    parts = [f"{name}={value}" for name, value in vars(limits).items() if value is not None]
    return " ".join(parts) or "unlimited"
