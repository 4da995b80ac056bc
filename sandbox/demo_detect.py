"""Which containers the demo's rules already see as over their threshold (the "detected" state).

The controller acts only once a rule's condition has held for its ``for`` window; until then
nothing in the cluster shows that it noticed. The demo makes that wait visible: it asks the
same Prometheus the controller asks for the same per-container rates, and evaluates each rule's
own compiled condition (``controller.rule_files``) on them.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import requests

from controller.expressions import Array
from controller.frames import limit_column
from controller.rule_model import Rule, RuleSet
from controller.windows import ColumnsByName

_METRICS = {
    "read_iops": "container_fs_reads_total",
    "write_iops": "container_fs_writes_total",
    "read_bps": "container_fs_reads_bytes_total",
    "write_bps": "container_fs_writes_bytes_total",
}
_DIRECTIONS = tuple(_METRICS)


class DetectError(Exception):
    """Prometheus could not be asked; the demo shows no "detected" state meanwhile."""


@dataclass(frozen=True)
class Detection:
    rule: str  # group/rule
    condition: str  # the rule's expr
    for_seconds: float


class Detector:
    def __init__(
        self, prometheus_url: str, rules: RuleSet, device_regex: str, rate_window: str
    ) -> None:
        self._url = prometheus_url.rstrip("/") + "/api/v1/query"
        self._rules: Sequence[Rule] = rules.rules()
        self._selector = f'{{device=~"{device_regex}", container!=""}}'
        self._window = rate_window

    def detect(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], Detection]:
        """For each (namespace, pod, container) whose rates meet a rule's condition: which rule."""
        rates = {direction: self._rates(metric) for direction, metric in _METRICS.items()}
        columns: dict[str, Array] = {
            "namespace": np.array([key[0] for key in keys], dtype=object),
            "pod": np.array([key[1] for key in keys], dtype=object),
            "container": np.array([key[2] for key in keys], dtype=object),
            "node": np.array([""] * len(keys), dtype=object),
        }
        numbers = {
            direction: np.array([rates[direction].get(key, 0.0) for key in keys], dtype=float)
            for direction in _DIRECTIONS
        }
        numbers["total_iops"] = numbers["read_iops"] + numbers["write_iops"]
        columns.update(numbers)
        for direction in _DIRECTIONS:
            columns[limit_column(direction)] = np.full(len(keys), math.nan)
        frame = ColumnsByName(columns, len(keys))
        found: dict[tuple[str, str, str], Detection] = {}
        for rule in self._rules:
            holds = rule.expr.evaluate(frame)
            for key, hit in zip(keys, holds, strict=True):
                if hit and key not in found:
                    found[key] = Detection(rule.qualified_name, rule.expr.source, rule.for_seconds)
        return found

    def _rates(self, metric: str) -> dict[tuple[str, str, str], float]:
        query = (
            f"sum by (namespace, pod, container) (rate({metric}{self._selector}[{self._window}]))"
        )
        try:
            answer = requests.get(self._url, params={"query": query}, timeout=5)
            answer.raise_for_status()
            result = answer.json()["data"]["result"]
        except (requests.RequestException, ValueError, KeyError) as error:
            raise DetectError(f"Prometheus query failed: {error}") from error
        return {
            (
                item["metric"]["namespace"],
                item["metric"]["pod"],
                item["metric"]["container"],
            ): float(item["value"][1])
            for item in result
        }
