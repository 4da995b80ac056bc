"""MIN_HOLD counts from a release too: a released container is not limited again at once."""

import math
from pathlib import Path

import pandas as pd

from controller.engine import EngineOptions, evaluate
from controller.frames import RELEASED_COLUMNS
from tests.controller.engine_frames import applied, current, decision, history, rules_from

NOW = 1_000_000.0
WRITER = """
groups:
  - name: noisy
    rules:
      - name: writer
        expr: write_iops > 1000
        limit: {write_iops: 500}
"""


def released(times: dict[str, float]) -> pd.DataFrame:
    rows = [(*key.split("/"), time) for key, time in times.items()]
    return pd.DataFrame(rows, columns=list(RELEASED_COLUMNS))


def test_a_container_released_less_than_min_hold_ago_is_not_limited_again(
    tmp_path: Path,
) -> None:
    rules = rules_from(tmp_path, WRITER)
    hot = {"write_iops": 1850.0}
    frame = current({"a/recent/c": hot, "a/older/c": hot, "a/never/c": hot})
    options = EngineOptions(min_hold=300, max_new_limits_fraction=1)
    decisions = evaluate(
        rules,
        frame,
        history(NOW, 30.0, {}),
        applied({}),
        NOW,
        options,
        released=released({"a/recent/c": NOW - 120, "a/older/c": NOW - 300}),
    )
    recent = decision(decisions, "a/recent/c")
    assert recent["action"] == "none"
    assert math.isnan(recent["limit_write_iops"])
    assert recent["reason"] == (
        "min hold 5m: released 2m ago; would apply: write_iops 1850 > 1000 (rule noisy/writer)"
    )
    assert decision(decisions, "a/older/c")["action"] == "apply"
    assert decision(decisions, "a/never/c")["action"] == "apply"


def test_the_latest_of_several_releases_counts_and_unknown_containers_are_ignored(
    tmp_path: Path,
) -> None:
    rules = rules_from(tmp_path, WRITER)
    frame = current({"a/p/c": {"write_iops": 1850.0}})
    times = released({"a/p/c": NOW - 600, "a/gone/c": NOW})
    times = pd.concat([times, released({"a/p/c": NOW - 60})], ignore_index=True)
    decisions = evaluate(rules, frame, history(NOW, 30.0, {}), applied({}), NOW, released=times)
    assert str(decision(decisions, "a/p/c")["reason"]).startswith(
        "min hold 5m: released 1m ago; would apply: "
    )
