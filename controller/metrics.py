"""The controller's ``/metrics``, on a registry passed in (no global registry: tests run many)."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import prometheus_client
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class AppliedLimit:
    """One limit in force, as exported by ``iops_limit_applied``."""

    namespace: str
    pod: str
    container: str
    direction: str  # read_iops, write_iops, read_bps, write_bps
    value: float
    owner: str  # controller or person
    rule: str  # group/rule, "" when set by a person
    # The pod's node: the report shows where a released limit ran after its pod is gone.
    node: str = ""


class _AppliedCollector(Collector):
    """Exports the last cycle's limits as one family, swapped whole so a scrape never sees a
    half-updated set (and released limits disappear instead of lingering at their last value)."""

    def __init__(self) -> None:
        self.limits: tuple[AppliedLimit, ...] = ()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "iops_limit_applied",
            "Limit in force per container and direction (IOPS or bytes/s), from the annotations",
            labels=["namespace", "pod", "container", "direction", "owner", "rule", "node"],
        )
        for limit in self.limits:
            family.add_metric(
                [
                    limit.namespace,
                    limit.pod,
                    limit.container,
                    limit.direction,
                    limit.owner,
                    limit.rule,
                    limit.node,
                ],
                limit.value,
            )
        yield family


class ControllerMetrics:
    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        self.cycle_seconds = prometheus_client.Histogram(
            "iops_limit_cycle_duration_seconds",
            "Duration of one evaluation cycle",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80),
            registry=registry,
        )
        self.cycles = prometheus_client.Counter(
            "iops_limit_cycles",
            "Evaluation cycles by result (ok, prometheus_error, kube_error, error, not_leader)",
            ["result"],
            registry=registry,
        )
        self.decisions = prometheus_client.Counter(
            "iops_limit_decisions",
            "Decisions by action (apply, update, keep, release, none)",
            ["action"],
            registry=registry,
        )
        self.limited_pods = prometheus_client.Gauge(
            "iops_limit_limited_pods",
            "Pods with at least one limit in force, by owner",
            ["owner"],
            registry=registry,
        )
        self.prometheus_errors = prometheus_client.Counter(
            "iops_limit_prometheus_errors",
            "Prometheus queries that failed",
            registry=registry,
        )
        self.api_errors = prometheus_client.Counter(
            "iops_limit_kube_api_errors",
            "Kubernetes API calls that failed, by operation (list, watch, patch, event, "
            "lease_get, lease_create, lease_update)",
            ["operation"],
            registry=registry,
        )
        self.api_writes = prometheus_client.Counter(
            "iops_limit_kube_api_writes",
            "Pod patches and Events the cycle sent",
            ["kind"],
            registry=registry,
        )
        self.rule_reloads = prometheus_client.Counter(
            "iops_limit_rule_reloads",
            "Rule set reloads by result (success, failure)",
            ["result"],
            registry=registry,
        )
        self.step_errors = prometheus_client.Counter(
            "iops_limit_step_errors",
            "Steps of the scheduled job besides the cycle that raised unexpectedly, by step "
            "(reload, alerts)",
            ["step"],
            registry=registry,
        )
        self.tampered = prometheus_client.Counter(
            "iops_limit_tampered_keys",
            "Controller-owned annotation keys found changed by someone else and restored",
            registry=registry,
        )
        self.leader = prometheus_client.Gauge(
            "iops_limit_leader", "1 while this replica holds the Lease", registry=registry
        )
        self._applied = _AppliedCollector()
        registry.register(self._applied)

    def set_applied(self, limits: Iterable[AppliedLimit]) -> None:
        self._applied.limits = tuple(limits)
