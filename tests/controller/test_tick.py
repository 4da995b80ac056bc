"""The scheduled job's steps are guarded one by one: a reload or alert step that raises is
logged with its traceback and counted, and the cycle of that tick still runs."""

import logging
from pathlib import Path

import prometheus_client
import pytest

from controller.cycle import CycleResult
from controller.metrics import ControllerMetrics
from controller.reloader import RuleReloader
from controller.rule_files import RuleFileError, load_rules
from controller.rule_model import RuleSet
from controller.tick import Tick

RULES = str(Path(__file__).parents[2] / "rules" / "default.yaml")


class ExplodingReloader(RuleReloader[RuleSet]):
    """The real reloader, whose poll fails in a way nobody anticipated (a bug, a library)."""

    def poll(self) -> bool:
        raise RuntimeError("reload exploded")


def step_errors(registry: prometheus_client.CollectorRegistry, step: str) -> float:
    return registry.get_sample_value("iops_limit_step_errors_total", {"step": step}) or 0.0


def failures_logged(caplog: pytest.LogCaptureFixture, step: str) -> int:
    return sum(
        1
        for record in caplog.records
        if record.exc_info is not None and f"the {step} step failed" in record.getMessage()
    )


def test_a_reload_that_raises_is_counted_and_the_cycle_runs_with_the_last_good_rules(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = prometheus_client.CollectorRegistry()
    reloader = ExplodingReloader(RULES, load_rules, (RuleFileError,))
    good = reloader.rules
    used: list[RuleSet] = []

    def cycle() -> CycleResult | None:
        used.append(reloader.rules)
        return None

    tick = Tick(reload=reloader.poll, cycle=cycle, alerts=None, metrics=ControllerMetrics(registry))
    with caplog.at_level(logging.ERROR):
        tick()
        tick()
    assert used == [good, good]
    assert step_errors(registry, "reload") == 2
    assert failures_logged(caplog, "reload") == 2


def test_an_alert_step_that_raises_is_counted_and_skips_no_cycle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = prometheus_client.CollectorRegistry()
    steps: list[str] = []

    def cycle() -> CycleResult | None:
        steps.append("cycle")
        return None

    def alerts(_result: CycleResult | None) -> None:
        steps.append("alerts")
        raise ConnectionError("alert sender exploded")

    tick = Tick(
        reload=lambda: steps.append("reload"),
        cycle=cycle,
        alerts=alerts,
        metrics=ControllerMetrics(registry),
    )
    with caplog.at_level(logging.ERROR):
        tick()
        tick()
    assert steps == ["reload", "cycle", "alerts"] * 2
    assert step_errors(registry, "alerts") == 2
    assert step_errors(registry, "reload") == 0
    assert failures_logged(caplog, "alerts") == 2
