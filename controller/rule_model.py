"""The checked, immutable form of rule files: a RuleSet of groups of rules."""

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controller.container_index import Level, PodLabels
from controller.expressions import Expression, Kind, compile_expression
from controller.frames import DIRECTIONS, limit_column
from controller.selectors import select_rows
from controller.summaries import SummaryTemplate
from iops_limit.label_selectors import LabelSelector

Mask = npt.NDArray[np.bool_]

DEFAULT_SEVERITY = "warning"
DEFAULT_RELEASE_FOR = 600.0
DEFAULT_RELEASE_RATIO = 0.5


@dataclass(frozen=True)
class Limit:
    """One direction of a rule's limit: a fixed number or a per-row expression."""

    direction: str
    number: int | None = None
    expression: Expression | None = None


@dataclass(frozen=True)
class Rule:
    group: str
    name: str
    expr: Expression
    for_seconds: float
    limits: tuple[Limit, ...]
    severity: str
    summary: SummaryTemplate | None
    file: str
    line: int

    @property
    def qualified_name(self) -> str:
        return f"{self.group}/{self.name}"


@dataclass(frozen=True)
class Release:
    expr: Expression
    for_seconds: float
    is_default: bool = False


def _default_release() -> Release:
    """Every limited direction's demand below half its limit; unlimited directions agree."""
    terms = [
        f"(isnan({limit_column(d)}) or {d} < {DEFAULT_RELEASE_RATIO} * {limit_column(d)})"
        for d in DIRECTIONS
    ]
    return Release(compile_expression(" and ".join(terms), Kind.BOOL), DEFAULT_RELEASE_FOR, True)


DEFAULT_RELEASE = _default_release()


@dataclass(frozen=True)
class Select:
    """Which containers a group may act on; every given part must hold."""

    namespaces: frozenset[str] | None = None
    exclude_namespaces: frozenset[str] = frozenset()
    pod_selector: LabelSelector | None = None
    exclude_containers: tuple[re.Pattern[str], ...] = ()

    def mask(self, namespace: Level, container: Level, pods: PodLabels) -> Mask:
        """Selected rows; names are matched once per distinct value, not once per row."""
        result = np.ones(len(namespace.codes), dtype=np.bool_)
        if self.namespaces is not None:
            result &= namespace.where(np.isin(namespace.uniques, list(self.namespaces)))
        if self.exclude_namespaces:
            result &= ~namespace.where(np.isin(namespace.uniques, list(self.exclude_namespaces)))
        if self.pod_selector is not None and self.pod_selector.requirements:
            result &= pods.spread(select_rows(self.pod_selector, pods.labels))
        for pattern in self.exclude_containers:
            found = np.array([bool(pattern.search(name)) for name in container.uniques])
            result &= ~container.where(found.astype(np.bool_))
        return result


@dataclass(frozen=True)
class Group:
    name: str
    select: Select
    rules: tuple[Rule, ...]
    release: Release
    file: str
    line: int


@dataclass(frozen=True)
class RuleSet:
    """Groups in load order (files sorted by name, then as written); names are unique."""

    groups: tuple[Group, ...]
    files: tuple[str, ...]

    def rules(self) -> tuple[Rule, ...]:
        return tuple(rule for group in self.groups for rule in group.rules)

    def group(self, name: str) -> Group | None:
        return next((group for group in self.groups if group.name == name), None)

    def max_for(self) -> float:
        """Seconds of history the engine needs: the longest rule or release ``for``."""
        windows = [rule.for_seconds for rule in self.rules()]
        windows += [group.release.for_seconds for group in self.groups]
        return max([DEFAULT_RELEASE_FOR, *windows])
