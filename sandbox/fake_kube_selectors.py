"""Label and field selectors as the real API server reads them from list and watch queries.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``,
comma-separated (all must hold). Field selectors: ``path=value``, ``path==value``,
``path!=value`` on the field paths the resource supports; any other path is refused the way
the real server refuses it (400 "field label not supported").
"""

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from sandbox.fake_kube_errors import StatusError

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s+(in|notin)\s+\((.*)\)\s*$")
_KEY_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*$")
_EQ_TERM = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")
_FIELD_TERM = re.compile(r"^\s*([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*?)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside a ``(...)`` value set."""
    terms: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    if match := _SET_TERM.match(term):
        negated, key, operator, values_text = match.groups()
        if negated:
            raise StatusError(400, f"unable to parse requirement: {term!r}")
        values = {value.strip() for value in values_text.split(",") if value.strip()}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQ_TERM.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _KEY_TERM.match(term):
        negated, key = match.groups()
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise StatusError(400, f"unable to parse requirement: {term!r}")


def label_selector(text: str | None) -> Predicate:
    """A predicate on an object's ``metadata.labels``; empty or ``None`` matches everything."""
    terms = [_label_term(term) for term in _split_terms(text or "")]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted field path, "" when absent (what the real server compares)."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_selector(text: str | None, supported: Collection[str]) -> Predicate:
    """A predicate on an object's fields; refuses paths outside ``supported`` with a 400."""
    checks: list[tuple[str, bool, str]] = []
    for term in _split_terms(text or ""):
        match = _FIELD_TERM.match(term)
        if not match:
            raise StatusError(400, f"invalid field selector: {term!r}")
        path, operator, value = match.groups()
        if path not in supported:
            raise StatusError(400, f'field label not supported: "{path}"')
        checks.append((path, operator != "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, path) == value) == equal for path, equal, value in checks)

    return matches
