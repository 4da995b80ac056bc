"""The long-running controller behind ``iops-controller run``.

An apscheduler interval job runs one cycle at a time (``max_instances=1``) and folds late runs
into one (``coalesce``); each run polls the rule path for a reload, runs the cycle and sends the
alerts, every step guarded (:mod:`controller.tick`). Only the Lease holder acts.
:meth:`Service.run` returns when ``stop`` is set (SIGTERM): the running cycle finishes, the
Lease is released, the servers stop.
"""

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import prometheus_client
from apscheduler.schedulers.background import BackgroundScheduler

from controller.cycle import CycleResult
from controller.cycle_alerts import CycleAlerts
from controller.leader import LeaderElector
from controller.metrics import ControllerMetrics
from controller.pods import PodCache
from controller.reloader import RuleReloader
from controller.rule_files import RuleFileError, load_rules
from controller.settings import ControllerSettings
from controller.tick import Tick
from controller.wiring import build_cycle, kube_api, prometheus_source
from iops_limit.health import HealthServer
from iops_limit.kube import KubeError

log = logging.getLogger(__name__)


class Service:
    def __init__(
        self,
        settings: ControllerSettings,
        on_cycle: Callable[[CycleResult], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_cycle = on_cycle
        self.registry = prometheus_client.CollectorRegistry()
        self.metrics = ControllerMetrics(self.registry)
        self.health: HealthServer | None = None

    def run(self, stop: threading.Event) -> int:
        """Serve until ``stop`` is set; returns the exit code."""
        settings = self._settings
        try:
            reloader = RuleReloader(settings.rules_path, load_rules, (RuleFileError,), self.metrics)
        except (RuleFileError, OSError) as error:
            log.error("cannot start: the rules in %s are invalid:\n%s", settings.rules_path, error)
            return 1
        api = kube_api(settings, self.metrics)
        cache = PodCache(api)
        try:
            cache.start()
        except KubeError as error:
            log.error("cannot start: listing pods failed: %s", error)
            return 1
        source = prometheus_source(settings)
        elector = None
        if settings.leader_elect:
            elector = LeaderElector(
                api,
                namespace=settings.lease_namespace_or_default(),
                name=settings.lease_name,
                identity=settings.lease_holder(),
                lease_duration=settings.lease_duration,
                renew_period=settings.lease_renew,
                on_change=lambda leader: self.metrics.leader.set(1 if leader else 0),
            )
            elector.try_acquire_or_renew()
            elector.start()
        else:
            self.metrics.leader.set(1)
        cycle = build_cycle(
            settings,
            api=api,
            cache=cache,
            source=source,
            rules=lambda: reloader.rules,
            metrics=self.metrics,
            may_act=elector.is_leader if elector is not None else lambda: True,
            on_cycle=self._on_cycle,
        )
        if settings.metrics_port:
            self.health = HealthServer(
                self.registry, cycle.ready, settings.metrics_port, host=settings.metrics_address
            )
            self.health.start()

        alerts = CycleAlerts.from_settings(settings, self.registry)
        if alerts is not None:
            alerts.start()

        def send_alerts(result: CycleResult | None) -> None:
            # Only the Lease holder speaks for the cluster; a follower's view is stale.
            if alerts is not None and (elector is None or elector.is_leader()):
                alerts.after_cycle(
                    result,
                    prometheus_error=cycle.prometheus_error,
                    rules_error=reloader.error,
                    pods=cache.annotated(),
                )

        tick = Tick(
            reload=reloader.poll,
            cycle=cycle.run_guarded,
            alerts=send_alerts if alerts is not None else None,
            metrics=self.metrics,
        )

        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.add_job(
            tick,
            "interval",
            seconds=settings.interval,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
            id="cycle",
        )
        scheduler.start()
        log.info("running: one cycle every %gs", settings.interval)
        stop.wait()
        log.info("stopping: finishing the running cycle")
        scheduler.shutdown(wait=True)
        if alerts is not None:
            alerts.stop()
        if elector is not None:
            elector.stop()
        cache.stop()
        source.close()
        if self.health is not None:
            self.health.stop()
        log.info("stopped")
        return 0
