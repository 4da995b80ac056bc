"""Build the engine's input frames (frame contract) from a few readable lines in a test."""

import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from controller.frames import APPLIED_COLUMNS, KEY_COLUMNS, LIMIT_COLUMNS, RATE_COLUMNS
from controller.rule_files import load_rules
from controller.rule_model import RuleSet

Rates = Mapping[str, float]


def rules_from(tmp_path: Path, text: str) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text))
    return load_rules(path)


def _row(key: str, rates: Rates) -> dict[str, object]:
    namespace, pod, container = key.split("/")
    numbers = {name: float(rates.get(name, 0.0)) for name in RATE_COLUMNS}
    if "total_iops" not in rates:
        numbers["total_iops"] = numbers["read_iops"] + numbers["write_iops"]
    row: dict[str, object] = {"namespace": namespace, "pod": pod, "container": container}
    row.update(numbers)
    return row


def current(
    containers: Mapping[str, Rates], labels: Mapping[str, Mapping[str, str]] | None = None
) -> pd.DataFrame:
    """``{"ns/pod/container": {"write_iops": 1500}}``; labels by ``ns/pod``."""
    rows = [_row(key, rates) | {"node": "node-1"} for key, rates in containers.items()]
    frame = pd.DataFrame(rows, columns=[*KEY_COLUMNS, "node", *RATE_COLUMNS])
    if labels is not None:
        frame["labels"] = pd.Series(
            [labels.get("/".join(key.split("/")[:2])) for key in containers], dtype=object
        )
    return frame


def history(now: float, step: float, series: Mapping[str, Iterable[Rates | None]]) -> pd.DataFrame:
    """Per container the rates at each step, oldest first, the last at ``now``; None = absent."""
    rows = []
    for key, given in series.items():
        samples = list(given)
        for index, rates in enumerate(samples):
            if rates is not None:
                time = now - step * (len(samples) - 1 - index)
                rows.append({"time": time} | _row(key, rates))
    return pd.DataFrame(rows, columns=["time", *KEY_COLUMNS, *RATE_COLUMNS])


def steady(now: float, step: float, steps: int, containers: Mapping[str, Rates]) -> pd.DataFrame:
    """The same rates at every one of ``steps`` steps up to ``now``."""
    return history(now, step, {key: [rates] * steps for key, rates in containers.items()})


def applied(limits: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """``{"ns/pod/c": {"write_iops": 500, "rule": "g/r", "since": t, "changed": t}}``."""
    rows = []
    for key, spec in limits.items():
        namespace, pod, container = key.split("/")
        group, _, rule = str(spec.get("rule", "")).partition("/")
        row: dict[str, object] = {"namespace": namespace, "pod": pod, "container": container}
        for column in LIMIT_COLUMNS:
            row[column] = float(spec.get(column.removeprefix("limit_"), np.nan))
        row |= {"group": group, "rule": rule, "since": spec.get("since", 0.0)}
        row["changed"] = spec.get("changed", row["since"])
        rows.append(row)
    return pd.DataFrame(rows, columns=list(APPLIED_COLUMNS))


def decision(frame: pd.DataFrame, key: str) -> dict[str, Any]:
    namespace, pod, container = key.split("/")
    match = frame[
        (frame["namespace"] == namespace)
        & (frame["pod"] == pod)
        & (frame["container"] == container)
    ]
    assert len(match) == 1, f"{key}: {len(match)} decision rows"
    row = {str(name): value for name, value in match.iloc[0].items()}
    return row


#: The moment and step most engine tests evaluate at, and the rule most of them start from.
NOW = 1_000_000.0
STEP = 30.0
WRITER = """
groups:
  - name: noisy
    rules:
      - name: writer
        expr: write_iops > 1000
        for: 5m
        limit: {write_iops: 500}
        summary: "{pod} wrote {write_iops:.0f} IOPS"
"""
NO_APPLIED = applied({})
NO_HISTORY = history(NOW, STEP, {})
