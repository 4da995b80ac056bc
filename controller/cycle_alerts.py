"""Alerts after every cycle of ``iops-controller run``, when ALERTMANAGER_URL is set.

After each cycle the service calls :meth:`CycleAlerts.after_cycle` with what the cycle
decided (None when it could not decide) and what kept it from working. Delivery happens in
the background (:class:`~controller.alert_sender.AlertSender`), so this never slows a cycle.
"""

import time
from collections.abc import Iterable, Sequence

import prometheus_client

from controller.alert_sender import AlertSender
from controller.alerts import Alerting
from controller.cycle import CycleResult
from controller.ownership import Owner, classify
from controller.pods import PodInfo
from controller.settings import ControllerSettings

# Alertmanager resolves an alert by itself this long after the last resend, so alerts of a
# controller that died do not fire forever (Prometheus uses four evaluation intervals too).
RESENDS_BEFORE_EXPIRY = 4
MIN_VALID_FOR = 60.0


def since_by_container(
    pods: Iterable[PodInfo], allow_exempt_namespaces: Sequence[str]
) -> dict[tuple[str, str, str], float]:
    """(namespace, pod, container) -> when the controller first applied its limit."""
    since: dict[tuple[str, str, str], float] = {}
    for pod in pods:
        limits = classify(pod, allow_exempt_namespaces)
        if limits.owner is Owner.CONTROLLER:
            for container, held in limits.held.items():
                since[(pod.namespace, pod.name, container)] = held.since
    return since


class CycleAlerts:
    def __init__(
        self,
        urls: Sequence[str],
        registry: prometheus_client.CollectorRegistry,
        *,
        interval: float,
        allow_exempt_namespaces: Sequence[str] = (),
        dry_run: bool = False,
    ) -> None:
        self._sender = AlertSender(urls, registry)
        valid_for = max(RESENDS_BEFORE_EXPIRY * interval, MIN_VALID_FOR)
        self._alerting = Alerting(self._sender, valid_for=valid_for, dry_run=dry_run)
        self._allow_exempt = tuple(allow_exempt_namespaces)

    @classmethod
    def from_settings(
        cls, settings: ControllerSettings, registry: prometheus_client.CollectorRegistry
    ) -> "CycleAlerts | None":
        """None when no Alertmanager is configured."""
        if not settings.alertmanager_url:
            return None
        return cls(
            settings.alertmanager_url,
            registry,
            interval=settings.interval,
            allow_exempt_namespaces=settings.allow_exempt_namespaces,
            dry_run=settings.dry_run,
        )

    def start(self) -> "CycleAlerts":
        self._sender.start()
        return self

    def stop(self) -> None:
        self._sender.stop()

    def after_cycle(
        self,
        result: CycleResult | None,
        *,
        prometheus_error: str | None,
        rules_error: str | None,
        pods: Iterable[PodInfo],
    ) -> None:
        problems = {}
        if prometheus_error:
            problems["prometheus"] = (
                f"Prometheus cannot be queried: {prometheus_error}. Limits in force stay;"
                " nothing new is decided until it answers."
            )
        if rules_error:
            problems["rules"] = (
                f"New rule files were rejected, the last good set stays: {rules_error}"
            )
        since = since_by_container(pods, self._allow_exempt)
        decisions = result.decisions if result is not None else None
        self._alerting.publish(decisions, since, problems, time.time())
