"""Kubernetes label selectors (``tier notin (database), app=web, !canary``).

The syntax and matching follow Kubernetes: requirements separated by commas, all must hold;
``key`` / ``!key`` (exists / does not exist), ``key=value`` / ``key==value`` / ``key!=value``,
``key in (a,b)`` / ``key notin (a,b)``. ``!=`` and ``notin`` also match pods without the label.
Keys and values are checked like the API server checks them. One parser serves the rule
engine's podSelector, the node writer's EXCLUDE_LABEL_SELECTOR and the fake API server.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from iops_limit.quoting import quoted

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_KEY = re.compile(rf"(?:(?P<prefix>{_PREFIX})/)?{_NAME}")
_VALUE = re.compile(rf"(?:{_NAME})?")
_SET = re.compile(r"\s*(?P<key>\S+?)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*")
_EQUALITY = re.compile(r"\s*(?P<key>[^=!\s]+)\s*(?P<op>==|=|!=)\s*(?P<value>\S*)\s*")
_EXISTS = re.compile(r"\s*(?P<bang>!?)\s*(?P<key>[^=!\s()]+)\s*")
_SYNTAX = "expected key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)"


class SelectorError(ValueError):
    """A label selector that Kubernetes would reject; the message names the requirement."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # exists, !exists, in, notin
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!exists":
            return self.key not in labels
        member = labels.get(self.key) in self.values
        return member if self.operator == "in" else not member


@dataclass(frozen=True)
class LabelSelector:
    """All requirements must hold; the empty selector matches every pod."""

    source: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)


def parse_label_selector(text: str) -> LabelSelector:
    """Parse ``text``; raise :class:`SelectorError` naming the first bad requirement."""
    requirements: list[Requirement] = []
    for part in _split(text):
        requirements.append(_requirement(part))
    return LabelSelector(text, tuple(requirements))


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses; an empty selector selects everything."""
    if not text.strip():
        return []
    parts: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _requirement(part: str) -> Requirement:
    if match := _SET.fullmatch(part):
        values = [value.strip() for value in match["values"].split(",")]
        if values == [""]:
            raise SelectorError(f"{quoted(part.strip())}: {match['op']} needs at least one value")
        return Requirement(_key(match["key"]), match["op"], frozenset(map(_value, values)))
    if match := _EQUALITY.fullmatch(part):
        operator = "notin" if match["op"] == "!=" else "in"
        return Requirement(_key(match["key"]), operator, frozenset({_value(match["value"])}))
    if match := _EXISTS.fullmatch(part):
        operator = "!exists" if match["bang"] else "exists"
        return Requirement(_key(match["key"]), operator)
    raise SelectorError(f"invalid requirement {quoted(part.strip())}: {_SYNTAX}")


def _key(key: str) -> str:
    match = _KEY.fullmatch(key)
    if match is None or len(match["prefix"] or "") > 253:
        raise SelectorError(
            f"invalid label key {quoted(key)}: expected [prefix/]name, name up to 63 characters of "
            "letters, digits, '-', '_', '.', starting and ending with a letter or digit"
        )
    return key


def _value(value: str) -> str:
    if not _VALUE.fullmatch(value):
        raise SelectorError(
            f"invalid label value {quoted(value)}: up to 63 characters of letters, digits, "
            "'-', '_', '.', starting and ending with a letter or digit"
        )
    return value
