"""Kubernetes label selectors (``tier in (db,cache),!canary,team=a``) for EXCLUDE_LABEL_SELECTOR.

The node writer cannot import the controller, so it carries its own small matcher.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

_KEY = r"(?:[a-z0-9A-Z.-]{1,253}/)?[a-zA-Z0-9](?:[-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?"
_VALUE = r"(?:[a-zA-Z0-9](?:[-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?)?"
_SET = re.compile(rf"\s*({_KEY})\s+(in|notin)\s+\(([^()]*)\)\s*")
_EQUALITY = re.compile(rf"\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*")
_EXISTS = re.compile(rf"\s*(!?)\s*({_KEY})\s*")


class SelectorError(ValueError):
    """A label selector that does not parse."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # in, notin, exists, !exists
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!exists":
            return self.key not in labels
        if self.operator == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values


@dataclass(frozen=True)
class LabelSelector:
    """All requirements must hold; the empty selector matches nothing (nothing excluded)."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return bool(self.requirements) and all(req.matches(labels) for req in self.requirements)


def parse_selector(text: str) -> LabelSelector:
    requirements = [_requirement(part, text) for part in _split(text) if part.strip()]
    return LabelSelector(tuple(requirements))


def _requirement(part: str, whole: str) -> Requirement:
    if match := _SET.fullmatch(part):
        values = frozenset(value.strip() for value in match.group(3).split(","))
        if not all(re.fullmatch(_VALUE, value) for value in values):
            raise SelectorError(f"invalid value in {part.strip()!r} of selector {whole!r}")
        return Requirement(match.group(1), match.group(2), values)
    if match := _EQUALITY.fullmatch(part):
        operator = "notin" if match.group(2) == "!=" else "in"
        return Requirement(match.group(1), operator, frozenset([match.group(3)]))
    if match := _EXISTS.fullmatch(part):
        return Requirement(match.group(2), "!exists" if match.group(1) else "exists", frozenset())
    raise SelectorError(f"cannot parse {part.strip()!r} in label selector {whole!r}")


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
