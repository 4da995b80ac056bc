"""The node writer's Prometheus metrics, on a registry of its own (no process-global state)."""

import contextlib

import prometheus_client

from iops_limit.annotations import ContainerLimits
from node_writer.throttle import FIELDS


class WriterMetrics:
    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.limit = prometheus_client.Gauge(
            "iops_node_writer_limit",
            "Limit applied to a container on this node, per direction (IOPS or bytes/s)",
            ["namespace", "pod", "container", "direction"],
            registry=self.registry,
        )
        self.limited_containers = prometheus_client.Gauge(
            "iops_node_writer_limited_containers",
            "Containers on this node with at least one limit applied",
            registry=self.registry,
        )
        self.writes = prometheus_client.Counter(
            "iops_node_writer_writes",
            "Container limit changes written to cgroup files, by result (ok; failed: the "
            "kernel refused the value or did not keep it, retried on every resync)",
            ["result"],
            registry=self.registry,
        )
        self.failing_containers = prometheus_client.Gauge(
            "iops_node_writer_failing_containers",
            "Containers whose limits could not be applied (see their IOPSLimitFailed Event)",
            registry=self.registry,
        )
        self.invalid_annotations = prometheus_client.Counter(
            "iops_node_writer_invalid_annotations",
            "Pod limit annotation sets rejected as invalid, each distinct set once "
            "(see the pod's InvalidIOPSLimit Event)",
            registry=self.registry,
        )
        self.apply_seconds = prometheus_client.Histogram(
            "iops_node_writer_apply_seconds",
            "Time from receiving a pod change to its cgroup files matching it",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.watch_restarts = prometheus_client.Counter(
            "iops_node_writer_watch_restarts",
            "Pod watch reconnections by cause (expired, unavailable, ended: closed at once)",
            ["cause"],
            registry=self.registry,
        )
        for result in ("ok", "failed"):
            self.writes.labels(result)
        self._limited: set[tuple[str, str, str]] = set()

    def record_limits(
        self, namespace: str, pod: str, container: str, limits: ContainerLimits
    ) -> None:
        key = (namespace, pod, container)
        for field in FIELDS:
            value = getattr(limits, field)
            if value is None:
                self._remove(namespace, pod, container, field)
            else:
                self.limit.labels(namespace, pod, container, field).set(value)
        if limits.is_unlimited():
            self._limited.discard(key)
        else:
            self._limited.add(key)
        self.limited_containers.set(len(self._limited))

    def forget(self, namespace: str, pod: str, container: str) -> None:
        self.record_limits(namespace, pod, container, ContainerLimits())

    def _remove(self, namespace: str, pod: str, container: str, field: str) -> None:
        with contextlib.suppress(KeyError):  # never set: nothing to remove
            self.limit.remove(namespace, pod, container, field)
