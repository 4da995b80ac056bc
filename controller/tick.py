"""One run of the scheduled job: reload the rules, run the cycle, send the alerts.

Each step is guarded on its own. A step that raises is logged with its traceback and counted in
``iops_limit_step_errors_total{step}``, and the tick goes on: a reload that blew up leaves the
last good rules in force and the cycle still runs; an alert step that blew up has already let
its cycle run and does not reach the scheduler (which would only log it, uncounted).
"""

import logging
from collections.abc import Callable

from controller.cycle import CycleResult
from controller.metrics import ControllerMetrics

log = logging.getLogger(__name__)


class Tick:
    def __init__(
        self,
        *,
        reload: Callable[[], object],
        cycle: Callable[[], CycleResult | None],
        alerts: Callable[[CycleResult | None], None] | None,
        metrics: ControllerMetrics,
    ) -> None:
        self._reload = reload
        self._cycle = cycle
        self._alerts = alerts
        self._metrics = metrics

    def __call__(self) -> None:
        self._guarded("reload", self._reload)
        # The cycle guards itself and counts its failures in cycles_total{result}.
        result = self._cycle()
        alerts = self._alerts
        if alerts is not None:
            self._guarded("alerts", lambda: alerts(result))

    def _guarded(self, step: str, run: Callable[[], object]) -> None:
        try:
            run()
        except Exception:
            log.exception("the %s step failed unexpectedly; the tick goes on", step)
            self._metrics.step_errors.labels(step=step).inc()
