from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from controller.cycle import applied_frame
from controller.engine import EngineOptions, evaluate
from controller.history import History
from controller.relevance import relevant_containers
from controller.rule_files import load_rules
from controller.rule_model import RuleSet

STEP = 10.0


def rates(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "namespace": "ns",
            "pod": list(values),
            "container": "app",
            "node": "n",
            "read_iops": 0.0,
            "write_iops": list(values.values()),
            "total_iops": list(values.values()),
            "read_bps": 0.0,
            "write_bps": 0.0,
        }
    )


def everything(history: History, start: float) -> pd.DataFrame:
    keys = {("ns", f"p{i}", "app") for i in range(100)}
    return history.frame(start, relevant=keys, present=keys)


def test_memory_covers_a_window_only_after_it_has_seen_all_of_it() -> None:
    history = History()
    assert not history.covers(start=100, interval=10)
    for now in (100, 110, 120):
        history.add(rates({"p1": 1.0}), now, interval=10)
    assert history.covers(start=100, interval=10)
    assert not history.covers(start=80, interval=10)


def test_a_seed_read_in_parts_covers_its_window_and_is_extended_by_cycles() -> None:
    history = History()
    parts = [rates({"p1": 5.0}).assign(time=t) for t in (120.0, 110.0, 100.0)]
    history.seed(iter(parts), start=100, now=120)
    history.add(rates({"p1": 7.0}), 130, interval=10)
    frame = everything(history, start=110)
    assert list(frame["time"]) == [110.0, 120.0, 130.0]
    assert list(frame["write_iops"]) == [5.0, 5.0, 7.0]
    assert list(frame.columns) == [
        "time", "namespace", "pod", "container",
        "read_iops", "write_iops", "total_iops", "read_bps", "write_bps",
    ]  # fmt: skip
    assert history.covers(start=100, interval=10)


def test_a_gap_or_a_late_cycle_breaks_coverage_so_the_next_cycle_reseeds() -> None:
    history = History()
    history.add(rates({"p1": 1.0}), 100, interval=10)
    history.add(rates({"p1": 1.0}), 110, interval=10)
    history.gap()
    assert not history.covers(start=100, interval=10)
    late = History()
    late.add(rates({"p1": 1.0}), 100, interval=10)
    late.add(rates({"p1": 1.0}), 150, interval=10)
    assert not late.covers(start=100, interval=10)


def test_skipped_runs_are_counted_as_missed_steps_but_jitter_is_not() -> None:
    history = History()
    assert history.missed_steps(100, interval=10) == 0  # nothing to miss yet
    history.add(rates({"p1": 1.0}), 100, interval=10)
    assert history.missed_steps(114, interval=10) == 0  # late, but no step between
    assert history.missed_steps(120, interval=10) == 1
    assert history.missed_steps(141, interval=10) == 3


def test_missed_steps_filled_from_prometheus_keep_coverage_and_the_steps_whole() -> None:
    history = History()
    for now in (100, 110):
        history.add(rates({"p1": 1.0}), now, interval=10)
    history.fill(iter([rates({"p1": 2.0}).assign(time=t) for t in (120.0, 130.0)]), end=130)
    history.add(rates({"p1": 3.0}), 140, interval=10)
    assert history.covers(start=100, interval=10)
    frame = everything(history, start=100)
    assert list(frame["time"]) == [100.0, 110.0, 120.0, 130.0, 140.0]
    assert list(frame["write_iops"]) == [1.0, 1.0, 2.0, 2.0, 3.0]


def test_only_relevant_rows_are_handed_out_but_every_step_keeps_a_row() -> None:
    history = History()
    history.add(rates({"p1": 9.0, "p2": 1.0}), 100, interval=10)
    history.add(rates({"p2": 1.0}), 110, interval=10)  # p1 missing at this step
    history.add(rates({"p1": 9.0, "p2": 1.0}), 120, interval=10)
    present = {("ns", "p1", "app"), ("ns", "p2", "app")}
    frame = history.frame(100, relevant={("ns", "p1", "app")}, present=present)
    assert list(zip(frame["time"], frame["pod"], strict=True)) == [
        (100.0, "p1"),
        (110.0, "p2"),  # the step stays: p1 missed it, and that must still count
        (120.0, "p1"),
    ]


RULES = """\
groups:
  - name: noisy
    rules:
      - name: writer
        expr: write_iops > 1000
        for: 40s
        limit: {write_iops: 500}
    release:
      expr: write_iops < 0.5 * limit_write_iops
      for: 30s
"""


@pytest.mark.parametrize("interval", [0.0, STEP])  # 0: the engine infers the step
@pytest.mark.parametrize("seed", [7, 11, 23, 42])
def test_the_engine_decides_the_same_on_the_relevant_rows_as_on_all_of_them(
    tmp_path: Path, seed: int, interval: float
) -> None:
    """Random rates over 12 steps: full history and the cut one give identical decisions."""
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    rules: RuleSet = load_rules(path)
    rng = np.random.default_rng(seed)
    pods = [f"p{i}" for i in range(60)]
    # Each pod has a usual rate (most are quiet); now and then it misses a step or dips.
    usual = {pod: float(rng.choice([50.0, 1500.0, 3000.0], p=[0.6, 0.2, 0.2])) for pod in pods}
    history = History()
    full: list[pd.DataFrame] = []
    for step in range(12):
        now = 1000.0 + step * STEP
        values = {
            pod: usual[pod] if rng.random() > 0.1 else 200.0 for pod in pods if rng.random() > 0.05
        }
        frame = rates(values)
        history.add(frame, now, interval=STEP)
        full.append(frame.assign(time=now))
    current = full[-1].drop(columns="time")
    applied = applied_frame({}, {}).iloc[0:0]
    held = pd.DataFrame(
        {
            "namespace": "ns",
            "pod": ["p1", "p2"],
            "container": "app",
            "limit_read_iops": np.nan,
            "limit_write_iops": 500.0,
            "limit_read_bps": np.nan,
            "limit_write_bps": np.nan,
            "group": "noisy",
            "rule": "writer",
            "since": 0.0,
            "changed": 0.0,
        }
    )
    applied = pd.concat([applied, held], ignore_index=True)
    start = 1000.0 + 11 * STEP - rules.max_for() - STEP / 2
    everything_frame = pd.concat(full, ignore_index=True)
    everything_frame = everything_frame[everything_frame["time"] >= start].drop(columns="node")
    present = set(zip(current["namespace"], current["pod"], current["container"], strict=True))
    cut = history.frame(start, relevant_containers(rules, current, applied), present)
    assert len(cut) < len(everything_frame) / 2
    now = 1000.0 + 11 * STEP
    options = EngineOptions(max_new_limits_fraction=1.0, min_hold=0, interval=interval)
    expected = evaluate(rules, current, everything_frame, applied, now, options)
    got = evaluate(rules, current, cut, applied, now, options)
    assert set(expected["action"]) >= {"apply", "none"}
    pd.testing.assert_frame_equal(got, expected, check_like=True)


def test_a_total_that_is_read_plus_write_comes_back_as_that_sum_and_any_other_as_given() -> None:
    history = History()
    summed = rates({"p1": 4.0}).assign(read_iops=0.25, total_iops=4.25)
    own = rates({"p2": 4.0}).assign(read_iops=0.25, total_iops=9.0)
    history.add(summed, 100, interval=10)
    history.add(own, 110, interval=10)
    frame = everything(history, start=100)
    assert list(frame["total_iops"]) == [4.25, 9.0]
    assert list(frame["read_iops"]) == [0.25, 0.25]
    assert list(frame["write_bps"]) == [0.0, 0.0]
