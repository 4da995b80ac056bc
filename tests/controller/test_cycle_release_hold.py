"""The cycle remembers its releases, and recalls them from the gauge when it starts without
memory, so MIN_HOLD also runs from a release (a real pod cache, annotator and engine against the
fake API server; rates and the gauge from a stub Prometheus)."""

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
HOLD = 300.0
NOW = 1_000_000.0
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


class StubGauge:
    """The ``iops_limit_applied`` range answers (or a failure) a stub Prometheus gives."""

    def __init__(self, answer: list[dict[str, Any]] | Exception) -> None:
        self.answer = answer
        self.queries: list[tuple[float, float, float]] = []

    def range_query(
        self, query: str, start: float, end: float, step: float
    ) -> list[dict[str, Any]]:
        self.queries.append((start, end, step))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def limited_until(end: float) -> list[dict[str, Any]]:
    """web-0's app limited by the controller, the gauge's points ending at ``end``."""
    metric = {
        "namespace": "shop",
        "pod": "web-0",
        "container": "app",
        "direction": "write_iops",
        "owner": "controller",
        "rule": "noisy/writer",
        "node": "node-a",
    }
    return [{"metric": metric, "values": [[end - 10, "500"], [end, "500"]]}]


class Harness:
    """A real cycle (pod cache, annotator, engine) on a clock the test moves."""

    def __init__(self, tmp_path: Path, kubeconfig: Path, gauge: StubGauge | None = None) -> None:
        (tmp_path / "rules.yaml").write_text(RULES)
        rules = load_rules(tmp_path / "rules.yaml")
        self.registry = prometheus_client.CollectorRegistry()
        metrics = ControllerMetrics(self.registry)
        api = KubeApi(load_api_client(str(kubeconfig)), TokenBucket(100, 100))
        self.cache = PodCache(api)
        self.cache.sync()
        self.rates = StubRates()
        self.clock = NOW
        self.leader = True
        self.cycle = Cycle(
            config=CycleConfig(INTERVAL, False, (), (RuntimeError,)),
            source=self.rates,
            pods=self.cache,
            annotator=Annotator(api, self.cache, metrics, lambda: True),
            rules=lambda: rules,
            evaluate=evaluate,
            options=EngineOptions(interval=INTERVAL, min_hold=HOLD),
            metrics=metrics,
            may_act=lambda: self.leader,
            clock=lambda: self.clock,
            gauge=gauge,
        )

    def step(self, write_iops: float, seconds: float) -> tuple[str, str]:
        """Move the clock, run a cycle: the writer's action and reason."""
        self.clock += seconds
        self.rates.write_iops = write_iops
        result = self.cycle.run()
        self.cache.sync()
        assert result is not None
        row = result.decisions.iloc[0]
        return str(row["action"]), str(row["reason"])


def test_a_released_container_is_limited_again_only_after_the_minimum_hold(
    tmp_path: Path, kube: tuple[FakeKube, Path]
) -> None:
    fake, kubeconfig = kube
    cycle = Harness(tmp_path, kubeconfig)

    assert cycle.step(1850, 0)[0] == "apply"
    assert "iops-limit/write-iops.app" in fake.get_pod("shop", "web-0")["metadata"]["annotations"]
    assert cycle.step(10, 300)[0] == "release"
    assert cycle.step(1850, 30)[0] == "none"  # released 30s ago: the hold runs until 5m after
    assert cycle.step(1850, 240)[0] == "none"
    assert cycle.step(1850, 30)[0] == "apply"


def test_a_new_controller_recalls_a_release_from_the_gauge_once(
    tmp_path: Path, kube: tuple[FakeKube, Path]
) -> None:
    _, kubeconfig = kube
    gauge = StubGauge(limited_until(NOW - 61))  # gone a step (1s) later: released NOW - 60
    cycle = Harness(tmp_path, kubeconfig, gauge)

    action, reason = cycle.step(1850, 0)
    assert (action, reason.split(";")[0]) == ("none", "min hold 5m: released 1m ago")
    assert gauge.queries == [(NOW - HOLD - 1, NOW, 1.0)]  # one query, a step before the hold
    assert cycle.step(1850, 210)[0] == "none"
    assert cycle.step(1850, 30)[0] == "apply"  # 300s after the release
    assert len(gauge.queries) == 1, "memory of releases was not empty: nothing to recall"


def test_a_new_leader_recalls_the_releases_made_while_it_followed(
    tmp_path: Path, kube: tuple[FakeKube, Path]
) -> None:
    _, kubeconfig = kube
    gauge = StubGauge([])
    cycle = Harness(tmp_path, kubeconfig, gauge)
    assert cycle.step(10, 0)[0] == "none"
    cycle.leader = False
    assert cycle.cycle.run() is None
    gauge.answer = limited_until(cycle.clock + 29)  # the leader released at +30
    cycle.leader = True
    action, reason = cycle.step(1850, 60)
    assert (action, reason.split(";")[0]) == ("none", "min hold 5m: released 30s ago")
    assert len(gauge.queries) == 2


def test_a_follower_stops_exporting_the_limits_it_last_saw(
    tmp_path: Path, kube: tuple[FakeKube, Path]
) -> None:
    """Else they would look in force in Prometheus after the leader released them, and the
    next leader would not recall those releases."""
    _, kubeconfig = kube
    cycle = Harness(tmp_path, kubeconfig)
    labels = {"namespace": "shop", "pod": "web-0", "container": "app", "direction": "write_iops"}
    labels |= {"owner": "controller", "rule": "noisy/writer", "node": "node-a"}
    assert cycle.step(1850, 0)[0] == "apply"
    assert cycle.registry.get_sample_value("iops_limit_applied", labels) == 500.0
    cycle.leader = False
    assert cycle.cycle.run() is None
    assert cycle.registry.get_sample_value("iops_limit_applied", labels) is None


@pytest.mark.parametrize("answer", [RuntimeError("connection refused"), []])
def test_without_the_gauge_the_cycle_goes_on_with_empty_memory_and_says_why(
    tmp_path: Path,
    kube: tuple[FakeKube, Path],
    answer: list[dict[str, Any]] | Exception,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, kubeconfig = kube
    cycle = Harness(tmp_path, kubeconfig, StubGauge(answer))
    with caplog.at_level(logging.INFO, logger="controller.releases"):
        assert cycle.step(1850, 0)[0] == "apply"
        assert cycle.step(1850, 30)[0] == "keep"
    (record,) = caplog.records  # once, on the first cycle
    assert "may be limited again" in record.getMessage()
