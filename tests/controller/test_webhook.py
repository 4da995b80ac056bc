"""Alertmanager's webhook payload details: Go's string quoting in ``groupKey``, and group keys
checked against a real Alertmanager with a child route."""

from collections.abc import Iterator

import pytest
import requests

from controller.webhook import go_quote, group_key
from sandbox.alertmanager import AlertmanagerServer, WebhookReceiver

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


CHILD_ROUTE_KEY = '{}/{alertname="IOPSLimitApplied"}'


@pytest.fixture
def child_route_alertmanager(webhook_receiver: WebhookReceiver) -> Iterator[AlertmanagerServer]:
    """A real Alertmanager whose limit alerts go through a child route with matchers."""
    with AlertmanagerServer(
        webhook_receiver.url, child_matchers=['alertname="IOPSLimitApplied"']
    ) as server:
        yield server


def test_group_keys_equal_what_alertmanager_delivers_through_a_child_route_and_the_root(
    child_route_alertmanager: AlertmanagerServer, webhook_receiver: WebhookReceiver
) -> None:
    # Label values with every character class go_quote treats specially.
    awkward = 'w\a\b\f\n\r\t\v\x01\x7f\x85\u00a0\u200b\U000e0001"\\é☺'
    alerts = [
        {"labels": {"alertname": "IOPSLimitApplied", "group": "noisy", "rule": awkward}},
        {"labels": {"alertname": "IOPSControllerDegraded", "group": "g", "cause": "rules"}},
    ]
    response = requests.post(
        f"{child_route_alertmanager.url}/api/v2/alerts", json=alerts, timeout=10
    )
    assert response.status_code == 200, response.text
    limit = webhook_receiver.wait_for(
        lambda p: p["groupLabels"].get("alertname") == "IOPSLimitApplied", timeout=60
    )
    degraded = webhook_receiver.wait_for(
        lambda p: p["groupLabels"].get("alertname") == "IOPSControllerDegraded", timeout=60
    )
    assert limit["groupLabels"]["rule"] == awkward
    assert limit["groupKey"] == group_key(limit["groupLabels"], CHILD_ROUTE_KEY)
    assert degraded["groupKey"] == group_key(degraded["groupLabels"])  # the root route: {}
