"""Label and field selectors as the real API server reads them from list and watch queries.

Label selectors are parsed by :mod:`iops_limit.label_selectors`, the project's own. Field
selectors: ``path=value``, ``path==value``, ``path!=value`` on the field paths the resource
supports; any other path is refused the way the real server refuses it (400 "field label not
supported").
"""

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from iops_limit.label_selectors import SelectorError, parse_label_selector
from sandbox.fake_kube_errors import StatusError

Predicate = Callable[[Mapping[str, Any]], bool]

_FIELD_TERM = re.compile(r"^\s*([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*?)\s*$")


def label_selector(text: str | None) -> Predicate:
    """A predicate on an object's ``metadata.labels``; empty or ``None`` matches everything."""
    try:
        selector = parse_label_selector(text or "")
    except SelectorError as error:
        raise StatusError(400, f"unable to parse requirement: {error}") from None

    def matches(obj: Mapping[str, Any]) -> bool:
        return selector.matches(obj.get("metadata", {}).get("labels"))

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
    for term in (text or "").split(","):
        if not term.strip():
            continue
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
