import numpy as np
import pytest

from controller.selectors import select_rows
from iops_limit.label_selectors import SelectorError, parse_label_selector

PODS = np.array(
    [
        {"app": "web", "tier": "frontend"},
        {"app": "db", "tier": "database"},
        {"app": "web", "canary": "true"},
        None,
    ],
    dtype=object,
)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", [True, True, True, True]),
        ("app=web", [True, False, True, False]),
        ("app==web", [True, False, True, False]),
        ("app!=web", [False, True, False, True]),
        ("tier in (frontend, database)", [True, True, False, False]),
        ("tier notin (database)", [True, False, True, True]),
        ("canary", [False, False, True, False]),
        ("!canary", [True, True, False, True]),
        ("app=web,!canary", [True, False, False, False]),
        ("example.com/team in (a), app", [False, False, False, False]),
    ],
)
def test_selector_matches_like_kubernetes(selector: str, expected: list[bool]) -> None:
    assert select_rows(parse_label_selector(selector), PODS).tolist() == expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("tier notin database", "invalid requirement 'tier notin database'"),
        ("tier in ()", "'tier in ()': in needs at least one value"),
        ("app=we b", "invalid requirement 'app=we b'"),
        ("-app=web", "invalid label key '-app'"),
        ("app=web!", "invalid label value 'web!'"),
    ],
)
def test_selector_errors_name_the_requirement(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(selector)
    assert message in str(caught.value)
