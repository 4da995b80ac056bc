"""Unit tests for rule files, in the spirit of ``promtool test rules``.

A test file names rule files (relative to itself), an evaluation interval, and tests; each test
gives input series per container in promtool's expanding notation (controller.series_notation)
and the decisions expected at given times. The engine runs step by step from time 0, each
step seeing all earlier steps as history, and its own decisions are fed back as the applied
limits (apply/update set them, release removes them), so holds, releases and re-applies can
be tested. See README "Rules" for the format.
"""

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from controller.engine import evaluate
from controller.frames import (
    APPLIED_COLUMNS,
    DIRECTIONS,
    KEY_COLUMNS,
    LIMIT_COLUMNS,
    RATE_COLUMNS,
    limit_column,
)
from controller.releases import RecentReleases
from controller.rule_test_files import (
    ContainerInput,
    Expected,
    Key,
    RuleTest,
    RuleTestError,
    TestFile,
    load_test_file,
)
from iops_limit.durations import format_duration

__all__ = ["RuleTestError", "TestResult", "load_test_file", "run_test_file"]

# Test time 0 is this epoch second; reports show times relative to it.
START = 1_700_000_000.0


@dataclass(frozen=True)
class Failure:
    test: RuleTest
    expected: Expected
    got: str

    def __str__(self) -> str:
        key = "/".join(self.expected.key)
        return (
            f"  at {format_duration(self.expected.at)}, {key} (line {self.expected.line}):\n"
            f"    expected: {_describe_expected(self.expected)}\n"
            f"    got:      {self.got}"
        )


@dataclass
class TestResult:
    test: RuleTest
    failures: list[Failure] = field(default_factory=list)


def run_test_file(test_file: TestFile) -> list[TestResult]:
    return [run_test(test_file, test) for test in test_file.tests]


def run_test(test_file: TestFile, test: RuleTest) -> TestResult:
    result = TestResult(test)
    last_at = max((expected.at for expected in test.expected), default=0.0)
    longest = max(len(s) for c in test.containers for s in c.series.values())
    steps = max(longest, round(last_at / test.interval) + 1)
    frames: list[tuple[float, pd.DataFrame]] = []
    applied = {key: _person_limit(key, limits) for key, limits in test.applied.items()}
    keep = test_file.rules.max_for() + 2 * test.interval
    options = dataclasses.replace(test_file.options, interval=test.interval)
    releases = RecentReleases(options.min_hold)  # as the service remembers them
    for step in range(steps):
        now = START + step * test.interval
        current = _current(test.containers, step)
        frames.append((now, current.assign(time=now)))
        frames = [(time, frame) for time, frame in frames if time >= now - keep]
        history = pd.concat([frame for _, frame in frames], ignore_index=True)
        decisions = evaluate(
            test_file.rules,
            current,
            history,
            _applied_frame(applied),
            now,
            options,
            released=releases.frame(now),
        )
        for expected in test.expected:
            if round(expected.at / test.interval) == step:
                got = _check(expected, decisions)
                if got is not None:
                    result.failures.append(Failure(test, expected, got))
        _feed_back(applied, decisions, now)
        releases.record(decisions, now)
    return result


def _current(containers: tuple[ContainerInput, ...], step: int) -> pd.DataFrame:
    rows = []
    for container in containers:
        values = {name: s[step] if step < len(s) else None for name, s in container.series.items()}
        if all(value is None for value in values.values()):
            continue  # absent at this step
        rates = {name: values.get(name) for name in RATE_COLUMNS}
        numbers = {name: np.nan if value is None else value for name, value in rates.items()}
        if "total_iops" not in container.series:
            numbers["total_iops"] = numbers["read_iops"] + numbers["write_iops"]
        row: dict[str, object] = dict(zip(KEY_COLUMNS, container.key, strict=True))
        row.update({"node": container.node, "labels": container.labels})
        row.update(numbers)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*KEY_COLUMNS, "node", "labels", *RATE_COLUMNS])


def _person_limit(key: Key, limits: Mapping[str, float]) -> dict[str, object]:
    row: dict[str, object] = dict(zip(KEY_COLUMNS, key, strict=True))
    for direction in DIRECTIONS:
        row[limit_column(direction)] = limits.get(direction, np.nan)
    return row | {"group": "", "rule": "", "since": START, "changed": START}


def _applied_frame(applied: Mapping[Key, dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(list(applied.values()), columns=list(APPLIED_COLUMNS))


def _feed_back(applied: dict[Key, dict[str, object]], decisions: pd.DataFrame, now: float) -> None:
    """What the service does with decisions: apply/update set limits, release removes them."""
    changing = decisions[decisions["action"].isin(["apply", "update", "release"])]
    for row in changing.to_dict("records"):
        key: Key = (str(row["namespace"]), str(row["pod"]), str(row["container"]))
        if row["action"] == "release":
            applied.pop(key, None)
            continue
        since = applied.get(key, {}).get("since", now)
        entry: dict[str, object] = {
            column: row[column] for column in (*KEY_COLUMNS, *LIMIT_COLUMNS)
        }
        applied[key] = entry | {
            "group": row["group"],
            "rule": row["rule"],
            "since": since,
            "changed": now,
        }


def _check(expected: Expected, decisions: pd.DataFrame) -> str | None:
    """None when the decision matches, else a description of what was decided."""
    namespace, pod, container = expected.key
    rows = decisions[
        (decisions["namespace"] == namespace)
        & (decisions["pod"] == pod)
        & (decisions["container"] == container)
    ]
    if rows.empty:
        return "no decision (container absent and not limited)"
    row = rows.iloc[0]
    limits = {d: row[limit_column(d)] for d in DIRECTIONS}
    qualified = f"{row['group']}/{row['rule']}" if row["rule"] else ""
    matches = (
        row["action"] == expected.action
        and all(
            (want is None and math.isnan(limits[d])) or limits[d] == want
            for d, want in expected.limits.items()
        )
        and (expected.rule is None or qualified == expected.rule)
        and (expected.severity is None or row["severity"] == expected.severity)
        and (expected.reason is None or expected.reason in row["reason"])
    )
    if matches:
        return None
    shown = " ".join(f"{d}={v:.0f}" for d, v in limits.items() if not math.isnan(v))
    return (
        f"action={row['action']} {shown or 'no limits'} rule={qualified or '-'} "
        f"severity={row['severity'] or '-'} reason={row['reason']!r}"
    )


def _describe_expected(expected: Expected) -> str:
    parts = [f"action={expected.action}"]
    parts += [f"{d}={'none' if v is None else f'{v:.0f}'}" for d, v in expected.limits.items()]
    if expected.rule is not None:
        parts.append(f"rule={expected.rule or '-'}")
    if expected.severity is not None:
        parts.append(f"severity={expected.severity}")
    if expected.reason is not None:
        parts.append(f"reason containing {expected.reason!r}")
    return " ".join(parts)
