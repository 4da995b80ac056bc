"""The engine at its edges: inputs it must refuse, empty and partial frames, fail static."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from controller.engine import EngineInputError, EngineOptions, evaluate
from controller.frames import DECISION_COLUMNS
from tests.controller.engine_frames import (
    NO_APPLIED,
    NO_HISTORY,
    NOW,
    STEP,
    WRITER,
    applied,
    current,
    decision,
    history,
    rules_from,
    steady,
)


def test_limits_set_by_a_person_are_kept_and_never_touched(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER.replace("for: 5m", "for: 0s"))
    limits = applied({"a/p/c": {"write_iops": 5000}})
    decisions = evaluate(rules, current({"a/p/c": {"write_iops": 3000.0}}), NO_HISTORY, limits, NOW)
    row = decision(decisions, "a/p/c")
    assert (row["action"], row["limit_write_iops"], row["group"], row["rule"]) == (
        "keep",
        5000.0,
        "",
        "",
    )
    assert row["reason"] == "set by a person: the controller leaves it alone"


def test_container_missing_from_current_keeps_its_limit_fail_static(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER)
    limits = applied(
        {"a/gone/c": {"write_iops": 500, "rule": "noisy/writer", "changed": NOW - 7200}}
    )
    past = steady(NOW - STEP, STEP, 30, {"a/gone/c": {"write_iops": 1.0}})
    decisions = evaluate(rules, current({"a/other/c": {"write_iops": 1.0}}), past, limits, NOW)
    row = decision(decisions, "a/gone/c")
    assert (row["action"], row["limit_write_iops"], row["rule"]) == ("keep", 500.0, "writer")
    assert row["reason"] == "no current IO data for the container: limit kept (fail static)"
    assert math.isnan(float(row["write_iops"]))


def test_nan_rates_and_nan_limits_never_match_or_release(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER.replace("for: 5m", "for: 0s"))
    frame = current({"a/p/c": {"write_iops": 10.0}, "a/q/c": {}})
    frame.loc[1, "write_iops"] = np.nan
    decisions = evaluate(rules, frame, NO_HISTORY, NO_APPLIED, NOW)
    assert list(decisions["action"]) == ["none", "none"]


def test_empty_frames_give_an_empty_decision_table_with_every_column(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER)
    decisions = evaluate(rules, current({}), NO_HISTORY, NO_APPLIED, NOW)
    assert list(decisions.columns) == list(DECISION_COLUMNS)
    assert len(decisions) == 0
    assert isinstance(decisions["namespace"].dtype, pd.StringDtype)
    assert pd.api.types.is_float_dtype(decisions["limit_write_iops"])


def test_empty_current_keeps_every_applied_limit(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER)
    limits = applied({"a/p/c": {"write_iops": 500, "rule": "noisy/writer"}})
    decisions = evaluate(rules, current({}), NO_HISTORY, limits, NOW)
    assert list(decisions["action"]) == ["keep"]


def test_decision_columns_and_types_follow_the_frame_contract(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER.replace("for: 5m", "for: 0s"))
    decisions = evaluate(
        rules, current({"a/p/c": {"write_iops": 2000.0}}), NO_HISTORY, NO_APPLIED, NOW
    )
    assert list(decisions.columns) == list(DECISION_COLUMNS)
    assert isinstance(decisions["reason"].dtype, pd.StringDtype)
    assert pd.api.types.is_float_dtype(decisions["limit_read_bps"])


def test_duplicate_container_in_current_is_an_input_error(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER)
    frame = pd.concat([current({"a/p/c": {}}), current({"a/p/c": {}})], ignore_index=True)
    with pytest.raises(EngineInputError, match="container a/p/c appears more than once"):
        evaluate(rules, frame, NO_HISTORY, NO_APPLIED, NOW)


def test_missing_column_is_an_input_error(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER)
    with pytest.raises(EngineInputError, match="current frame lacks columns write_bps"):
        evaluate(
            rules, current({"a/p/c": {}}).drop(columns="write_bps"), NO_HISTORY, NO_APPLIED, NOW
        )


def test_a_step_without_any_rows_is_a_gap_on_the_interval_grid(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER.replace("for: 5m", "for: 2m"))
    hot = {"write_iops": 1850.0}
    past = history(NOW, STEP, {"a/p/c": [hot, hot, None, hot, hot]})
    frame = current({"a/p/c": hot})
    given = evaluate(rules, frame, past, NO_APPLIED, NOW, EngineOptions(interval=STEP))
    assert decision(given, "a/p/c")["action"] == "none"
    # With the interval inferred (the median spacing of the history's times) too.
    inferred = evaluate(rules, frame, past, NO_APPLIED, NOW)
    assert decision(inferred, "a/p/c")["action"] == "none"


def test_jittered_timestamps_count_at_their_nearest_step(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER.replace("for: 5m", "for: 2m"))
    hot = {"write_iops": 1850.0}
    past = history(NOW, STEP, {"a/p/c": [hot] * 5})
    past["time"] += np.array([3.0, -2.5, 4.0, -1.0, 0.0])
    decisions = evaluate(
        rules, current({"a/p/c": hot}), past, NO_APPLIED, NOW, EngineOptions(interval=STEP)
    )
    assert decision(decisions, "a/p/c")["action"] == "apply"


def test_container_limited_twice_in_applied_is_an_input_error(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER)
    twice = pd.concat([applied({"a/p/c": {"write_iops": 5}})] * 2, ignore_index=True)
    with pytest.raises(EngineInputError, match="applied frame: container a/p/c appears more"):
        evaluate(rules, current({"a/p/c": {}}), NO_HISTORY, twice, NOW)
