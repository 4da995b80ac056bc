"""The cycle remembers its releases, so MIN_HOLD also runs from a release (a real pod cache,
annotator and engine against the fake API server; rates from a stub Prometheus)."""

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import prometheus_client
import pytest

from controller.annotator import Annotator
from controller.cycle import Cycle, CycleConfig
from controller.engine import EngineOptions, evaluate
from controller.history import COLUMNS
from controller.kubeapi import KubeApi
from controller.metrics import ControllerMetrics
from controller.pods import PodCache
from controller.ratelimit import TokenBucket
from controller.rule_files import load_rules
from iops_limit.kube import load_api_client
from sandbox.fake_kube import FakeKube

INTERVAL = 30.0
RULES = """\
groups:
  - name: noisy
    rules:
      - name: writer
        expr: write_iops > 1000
        limit: {write_iops: 500}
    release: {expr: write_iops < 100}
"""


class StubRates:
    """One container whose write rate the test sets; the same rate all through history."""

    def __init__(self) -> None:
        self.write_iops = 0.0

    def _frame(self, times: list[float]) -> pd.DataFrame:
        rates = (0.0, self.write_iops, self.write_iops, 0.0, 0.0)  # as controller.history.RATES
        rows = [(time, "shop", "web-0", "app", *rates) for time in times]
        return pd.DataFrame(rows, columns=COLUMNS)

    def current(self, now: float) -> pd.DataFrame:
        return self._frame([now]).drop(columns="time").assign(node="node-a")

    def history(self, window_seconds: float, step_seconds: float, now: float) -> pd.DataFrame:
        steps = int(window_seconds // step_seconds)
        return self._frame([now - step * step_seconds for step in range(steps + 1)])


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[tuple[FakeKube, Path]]:
    with FakeKube() as kube:
        kube.add_node("node-a")
        kube.add_pod(kube.make_pod("shop", "web-0", "node-a"))
        yield kube, kube.write_kubeconfig(tmp_path / "kubeconfig")


def test_a_released_container_is_limited_again_only_after_the_minimum_hold(
    tmp_path: Path, kube: tuple[FakeKube, Path]
) -> None:
    fake, kubeconfig = kube
    (tmp_path / "rules.yaml").write_text(RULES)
    rules = load_rules(tmp_path / "rules.yaml")
    metrics = ControllerMetrics(prometheus_client.CollectorRegistry())
    api = KubeApi(load_api_client(str(kubeconfig)), TokenBucket(100, 100))
    cache = PodCache(api)
    cache.sync()
    rates = StubRates()
    clock = [1_000_000.0]
    cycle = Cycle(
        config=CycleConfig(INTERVAL, False, (), (RuntimeError,)),
        source=rates,
        pods=cache,
        annotator=Annotator(api, cache, metrics, lambda: True),
        rules=lambda: rules,
        evaluate=evaluate,
        options=EngineOptions(interval=INTERVAL, min_hold=300),
        metrics=metrics,
        clock=lambda: clock[0],
    )

    def step(write_iops: float, seconds: float) -> str:
        clock[0] += seconds
        rates.write_iops = write_iops
        result = cycle.run()
        cache.sync()
        assert result is not None
        return str(result.decisions["action"].iloc[0])

    assert step(1850, 0) == "apply"
    assert "iops-limit/write-iops.app" in fake.get_pod("shop", "web-0")["metadata"]["annotations"]
    assert step(10, 300) == "release"
    assert step(1850, 30) == "none"  # released 30s ago: the hold runs until 5m after
    assert step(1850, 240) == "none"
    assert step(1850, 30) == "apply"
