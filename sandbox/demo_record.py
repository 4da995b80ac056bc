"""What the demo saw: each container's real counters, limits and annotations over time.

The demo polls every container a few times a second; this module keeps those observations, turns
them into per-second IOPS, follows each container through its states (detected, annotated,
throttled, released) and computes the figures the demo reports and writes to
``measurements.json``: the noisy container's IOPS before and under its limit, measured from its
cgroup's own counters, and how long the product took from the start of its load to the limit.
"""

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

from sandbox.demo_cgroups import Counters, Limits

#: Seconds left out after a change (load start, limit written) before measuring a steady rate:
#: fio ramps up, and IO already queued when the limit lands still completes at the old rate.
SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Observation:
    at: float  # seconds since the load started (negative before)
    counters: Counters
    limits: Limits
    annotated: bool  # the pod carries a limit annotation for this container


@dataclass
class ContainerRecord:
    """One container's observations and the moments its state changed."""

    name: str  # namespace/pod/container
    observations: list[Observation] = field(default_factory=list)
    detected_at: float | None = None
    annotated_at: float | None = None
    limited_at: float | None = None
    released_at: float | None = None
    limits_seen: list[int] = field(default_factory=list)
    load_stopped_at: float | None = None

    def add(self, observation: Observation) -> list[str]:
        """Record one poll; returns the state changes it showed, as short sentences."""
        changes: list[str] = []
        limit = observation.limits.write_iops or observation.limits.read_iops
        if observation.annotated and self.annotated_at is None:
            self.annotated_at = observation.at
            changes.append("annotated by the controller")
        if limit is not None and (not self.limits_seen or self.limits_seen[-1] != limit):
            if self.limited_at is None:
                self.limited_at = observation.at
            self.limits_seen.append(limit)
            self.released_at = None
            changes.append(f"throttled: cgroup limit {limit} IOPS written by the node writer")
        if limit is None and self.limited_at is not None and self.released_at is None:
            self.released_at = observation.at
            changes.append("released: cgroup limit cleared")
        self.observations.append(observation)
        return changes

    def mark_detected(self, at: float) -> bool:
        if self.detected_at is None and self.limited_at is None:
            self.detected_at = at
            return True
        return False

    @property
    def state(self) -> str:
        if self.released_at is not None:
            return "released"
        if self.limited_at is not None:
            return "throttled"
        if self.annotated_at is not None:
            return "annotated"
        if self.detected_at is not None:
            return "detected"
        return "ok"

    @property
    def current_limit(self) -> Limits:
        return self.observations[-1].limits if self.observations else Limits()

    def iops(self, window: float = 1.0) -> tuple[float, float]:
        """Read and write IOPS over the last ``window`` seconds of observations."""
        if len(self.observations) < 2:
            return (0.0, 0.0)
        last = self.observations[-1]
        return self._rate_between(last.at - window, last.at)

    def write_iops_between(self, start: float, end: float) -> float:
        return self._rate_between(start, end)[1]

    def _rate_between(self, start: float, end: float) -> tuple[float, float]:
        """Counter difference over the observations closest to [start, end], per second."""
        times = [o.at for o in self.observations]
        first = self.observations[min(bisect.bisect_left(times, start), len(times) - 1)]
        last = self.observations[max(bisect.bisect_right(times, end) - 1, 0)]
        seconds = last.at - first.at
        if seconds <= 0:
            return (0.0, 0.0)
        return (
            (last.counters.read_ios - first.counters.read_ios) / seconds,
            (last.counters.write_ios - first.counters.write_ios) / seconds,
        )

    def per_second(self) -> list[tuple[float, float, float, float | None]]:
        """(time, read IOPS, write IOPS, limit) for each whole second observed."""
        out: list[tuple[float, float, float, float | None]] = []
        if not self.observations:
            return out
        second = math.ceil(self.observations[0].at) + 1
        while second <= self.observations[-1].at:
            reads, writes = self._rate_between(second - 1, second)
            limits = self._limits_at(second)
            limit = limits.write_iops or limits.read_iops
            out.append((float(second), reads, writes, float(limit) if limit else None))
            second += 1
        return out

    def _limits_at(self, at: float) -> Limits:
        times = [o.at for o in self.observations]
        return self.observations[max(bisect.bisect_right(times, at) - 1, 0)].limits


def noisy_figures(record: ContainerRecord) -> dict[str, Any]:
    """The noisy container's IOPS before and under its limit, and the product's latencies."""
    figures: dict[str, Any] = {
        "container": record.name,
        "limit_iops": record.limits_seen[0] if record.limits_seen else None,
        "seconds_to_detection": record.detected_at,
        "seconds_to_annotation": record.annotated_at,
        "seconds_to_limit": record.limited_at,
        "seconds_from_load_stop_to_release": None,
        "write_iops_before_limit": None,
        "write_iops_under_limit": None,
        "under_limit_window": None,
    }
    end_of_load = record.load_stopped_at
    if record.limited_at is not None:
        figures["write_iops_before_limit"] = record.write_iops_between(
            SETTLE_SECONDS, record.limited_at
        )
        start = record.limited_at + SETTLE_SECONDS
        end = end_of_load if end_of_load is not None else record.observations[-1].at
        if record.released_at is not None:
            end = min(end, record.released_at)
        if end - start >= 1:
            figures["write_iops_under_limit"] = record.write_iops_between(start, end)
            figures["under_limit_window"] = [start, end]
    if record.released_at is not None and end_of_load is not None:
        figures["seconds_from_load_stop_to_release"] = record.released_at - end_of_load
    return figures
