"""Kubernetes label selectors: podSelector, EXCLUDE_LABEL_SELECTOR and the fake API share them."""

import pytest

from iops_limit.label_selectors import SelectorError, parse_label_selector


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("tier=db", {"tier": "db"}, True),
        ("tier==db", {"tier": "web"}, False),
        ("tier!=db", {"tier": "web"}, True),
        ("tier!=db", {}, True),
        ("tier in (db, cache)", {"tier": "cache"}, True),
        ("tier notin (db,cache)", {"tier": "db"}, False),
        ("canary", {"canary": ""}, True),
        ("!canary", {"canary": "yes"}, False),
        ("team=a,tier in (db)", {"team": "a", "tier": "db"}, True),
        ("team=a,tier in (db)", {"team": "b", "tier": "db"}, False),
        ("example.com/owner=x", {"example.com/owner": "x"}, True),
        ("", {"tier": "db"}, True),
        ("tier!=db", None, True),
    ],
)
def test_selector_matches_like_kubernetes(
    selector: str, labels: dict[str, str] | None, expected: bool
) -> None:
    assert parse_label_selector(selector).matches(labels) is expected


@pytest.mark.parametrize("selector", ["tier in (db", "=db", "tier in (a b)", "tier ~ db", "a,,=b"])
def test_malformed_selector_is_refused(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(selector)
