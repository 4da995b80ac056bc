"""Runs the scheduler skipped or coalesced lose no history: the next cycle reads the missed
steps from a real Prometheus, so a ``for`` window that held through the gap stays exact."""

import time
from pathlib import Path
from typing import Any

import prometheus_client
import pytest

from controller import engine
from controller.cycle import Cycle, CycleConfig
from controller.kubeapi import KubeApi
from controller.metrics import ControllerMetrics
from controller.pods import PodCache
from controller.prometheus import PrometheusError, PrometheusSource
from controller.ratelimit import TokenBucket
from controller.rule_files import load_rules
from sandbox.cadvisor_exporter import CadvisorExporter
from sandbox.cadvisor_series import Phase, Rates
from sandbox.fake_kube import FakeKube
from tests.fixtures.prometheus import PrometheusFactory

INTERVAL = 5.0
RULES = """\
groups:
  - name: noisy
    rules:
      - name: writer
        expr: write_iops > 1000
        for: 30s
        limit: {write_iops: 500}
    release:
      expr: write_iops < 0.5 * limit_write_iops
      for: 10s
"""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingSource(PrometheusSource):
    """The real source, counting range queries and their spans."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ranges: list[tuple[float, float]] = []

    def history(self, window_seconds: float, step_seconds: float, now: float) -> Any:
        self.ranges.append((now - window_seconds, now))
        return super().history(window_seconds, step_seconds, now)


@pytest.fixture
def switched_at(cadvisor_exporter: CadvisorExporter) -> float:
    """A writer quiet for ten minutes, then over the threshold for the last minute; returns
    when it crossed (to the second: the test's steps keep several seconds away from it)."""
    cadvisor_exporter.set_rates(
        "shop",
        "writer",
        "app",
        write_iops=3000,
        history=[Phase(600, Rates(write_iops=100)), Phase(60, Rates(write_iops=3000))],
    )
    return time.time() - 60


def action(cycle: Cycle) -> str:
    result = cycle.run()
    assert result is not None
    [row] = result.decisions.to_dict("records")
    return str(row["action"])


def test_a_for_window_that_held_through_skipped_runs_fires_on_the_next_run(
    switched_at: float,
    cadvisor_exporter: CadvisorExporter,
    prometheus: PrometheusFactory,
    kube_api: FakeKube,
    tmp_path: Path,
) -> None:
    kube_api.add_pod(
        kube_api.make_pod(
            "shop", "writer", "node-a", containers=[{"name": "app", "image": "app:1"}]
        )
    )
    cache = PodCache(KubeApi(kube_api.api_client(), TokenBucket(100, 100)))
    cache.sync()
    (tmp_path / "rules.yaml").write_text(RULES)
    rules = load_rules(tmp_path / "rules.yaml")
    server = prometheus(cadvisor_exporter)
    source = CountingSource(server.url, rate_window=10, retries=0)
    clock = Clock(switched_at + 15)  # over the threshold for about 10s of rate window
    cycle = Cycle(
        config=CycleConfig(INTERVAL, True, (), (PrometheusError,)),
        source=source,
        pods=cache,
        annotator=None,
        rules=lambda: rules,
        evaluate=engine.evaluate,
        options=engine.EngineOptions(
            floor_iops=50, min_hold=0, max_new_limits_fraction=1.0, interval=INTERVAL
        ),
        metrics=ControllerMetrics(prometheus_client.CollectorRegistry()),
        clock=clock,
    )
    assert action(cycle) == "none"  # seeds memory: held for less than 30s
    for _ in range(2):
        clock.now += INTERVAL
        assert action(cycle) == "none"
    seeded = len(source.ranges)
    clock.now += 4 * INTERVAL  # three runs skipped; the condition held all along
    assert action(cycle) == "apply"
    # Only the three missed steps were read back, not the whole window again.
    [(start, end)] = source.ranges[seeded:]
    assert (start, end) == (clock.now - 3 * INTERVAL, clock.now - INTERVAL)
