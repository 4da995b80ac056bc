"""Alertmanager's webhook payload details: Go's string quoting in ``groupKey``."""

import pytest

from controller.webhook import go_quote, group_key

# What Go's strconv.Quote returns for each input (Go 1.19 strconv, as Alertmanager 0.25 uses).
GO_QUOTED = [
    ("plain", '"plain"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("\a", '"\\a"'),
    ("\b", '"\\b"'),
    ("\f", '"\\f"'),
    ("\n", '"\\n"'),
    ("\r", '"\\r"'),
    ("\t", '"\\t"'),
    ("\v", '"\\v"'),
    ("\x00", '"\\x00"'),
    ("\x1b[0m", '"\\x1b[0m"'),
    ("\x7f", '"\\x7f"'),
    ("\x85", '"\\u0085"'),  # C1 control
    ("a\u00a0b", '"a\\u00a0b"'),  # no-break space: a space, but not ASCII's
    ("zero\u200bwidth", '"zero\\u200bwidth"'),  # format character
    ("\u2028", '"\\u2028"'),  # line separator
    ("\ue000", '"\\ue000"'),  # private use
    ("\U000e0001", '"\\U000e0001"'),  # tag, beyond the BMP
    ("héllo wörld ☺ 日本", '"héllo wörld ☺ 日本"'),  # printable Unicode stays as it is
    ("\U0001f600", '"\U0001f600"'),
]


@pytest.mark.parametrize(("text", "quoted"), GO_QUOTED)
def test_go_quote_escapes_as_go_strconv_quote_does(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_group_key_prints_labels_sorted_with_go_quoting() -> None:
    key = group_key({"rule": "w\a", "alertname": "A"}, '{}/{alertname="A"}')
    assert key == '{}/{alertname="A"}:{alertname="A", rule="w\\a"}'
