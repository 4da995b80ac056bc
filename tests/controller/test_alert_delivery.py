"""Alerts through a real Alertmanager to a webhook the test serves.

Times passed to ``publish`` are the wall clock: Alertmanager judges ``endsAt`` by its own.
"""

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import prometheus_client
import pytest

from controller.alert_sender import AlertSender
from controller.alerts import DEGRADED_ALERT, LIMIT_ALERT, Alert, Alerting
from controller.webhook import webhook_payloads
from sandbox.alertmanager import AlertmanagerServer, WebhookReceiver, free_port
from tests.controller.decision_frames import applied, decision, decisions

Payload = dict[str, Any]


@pytest.fixture
def registry() -> prometheus_client.CollectorRegistry:
    return prometheus_client.CollectorRegistry()


@pytest.fixture
def sender(
    alertmanager: AlertmanagerServer, registry: prometheus_client.CollectorRegistry
) -> Iterator[AlertSender]:
    sender = AlertSender([alertmanager.url], registry).start()
    yield sender
    sender.stop()


def pods_in(payload: Payload, status: str) -> set[str]:
    return {alert["labels"]["pod"] for alert in payload["alerts"] if alert["status"] == status}


def with_rule(rule: str, status: str) -> Callable[[Payload], bool]:
    def match(payload: Payload) -> bool:
        return bool(payload["groupLabels"].get("rule") == rule and payload["status"] == status)

    return match


def with_group_key(key: str) -> Callable[[Payload], bool]:
    return lambda payload: bool(payload["groupKey"] == key)


def test_limits_arrive_grouped_by_rule_and_release_arrives_resolved(
    sender: AlertSender, webhook_receiver: WebhookReceiver
) -> None:
    alerting = Alerting(sender, valid_for=300)
    now = time.time()
    writer_a = decision("team-a", "writer-a", "app")
    writer_b = decision("team-b", "writer-b", "app")
    reader = decision("team-a", "reader", "db", rule="hot-reader", write_iops_limit=800.0)
    alerting.publish(decisions(writer_a, writer_b, reader), {}, {}, now)

    writers = webhook_receiver.wait_for(
        lambda p: with_rule("sustained-writer", "firing")(p) and len(p["alerts"]) == 2
    )
    assert pods_in(writers, "firing") == {"writer-a", "writer-b"}
    assert writers["groupLabels"] == {
        "alertname": LIMIT_ALERT,
        "group": "noisy-neighbours",
        "rule": "sustained-writer",
    }
    readers = webhook_receiver.wait_for(with_rule("hot-reader", "firing"))
    assert pods_in(readers, "firing") == {"reader"}

    # writer-b is released: the next cycle no longer has it limited.
    released = decision("team-b", "writer-b", "app", action="release")
    kept = [dict(row, action="keep") for row in (writer_a, reader)]
    alerting.publish(
        decisions(kept[0], released, kept[1]), applied(now, writer_a, reader), {}, time.time()
    )
    resolved = webhook_receiver.wait_for(
        lambda p: (
            pods_in(p, "resolved") == {"writer-b"} and with_rule("sustained-writer", "firing")(p)
        )
    )
    assert pods_in(resolved, "firing") == {"writer-a"}


def test_degraded_alert_fires_while_prometheus_is_down_and_resolves_after(
    sender: AlertSender, webhook_receiver: WebhookReceiver
) -> None:
    alerting = Alerting(sender, valid_for=300)
    now = time.time()
    alerting.publish(decisions(decision("team-a", "writer-a", "app")), {}, {}, now)
    webhook_receiver.wait_for(with_rule("sustained-writer", "firing"))

    # A cycle that could not query Prometheus has no decisions, only the problem.
    problem = {"prometheus": "query failed: connection refused to 127.0.0.1:9090."}
    alerting.publish(None, {}, problem, time.time())
    degraded = webhook_receiver.wait_for(
        lambda p: p["groupLabels"].get("alertname") == DEGRADED_ALERT and p["status"] == "firing"
    )
    (alert,) = degraded["alerts"]
    assert alert["labels"]["cause"] == "prometheus"
    assert "connection refused" in alert["annotations"]["description"]

    alerting.publish(None, {}, problem, time.time())
    alerting.publish(
        decisions(decision("team-a", "writer-a", "app", action="keep")), {}, {}, time.time()
    )
    webhook_receiver.wait_for(
        lambda p: p["groupLabels"].get("alertname") == DEGRADED_ALERT and p["status"] == "resolved"
    )
    # The limit stayed applied all along, so its alert never resolved.
    assert not any(
        pods_in(p, "resolved") for p in webhook_receiver.payloads() if p["groupLabels"].get("rule")
    )


def test_webhook_payload_we_compute_equals_the_one_alertmanager_delivered(
    sender: AlertSender, webhook_receiver: WebhookReceiver, alertmanager: AlertmanagerServer
) -> None:
    now = time.time()
    rows = [
        decision("team-a", "writer-a", "app", action="keep"),
        decision("team-b", "writer-b", "app", action="keep", node=""),
        decision("team-a", "reader", "db", action="keep", rule="hot-reader"),
    ]
    batch = Alerting(sender, valid_for=300).publish(
        decisions(*rows), applied(now - 120.5, *rows), {}, now
    )
    expected = webhook_payloads(
        batch,
        group_by=alertmanager.group_by,
        receiver=alertmanager.receiver,
        external_url=alertmanager.url,
        now=time.time(),
    )
    assert len(expected) == 2
    for payload in expected:
        delivered = webhook_receiver.wait_for(with_group_key(payload["groupKey"]))
        assert delivered == payload
        assert list(delivered) == list(payload)  # same keys in the same order


@contextlib.contextmanager
def black_hole() -> Iterator[socket.socket]:
    """A port that accepts connections and never answers: the worst Alertmanager there is."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener


def test_unresponsive_alertmanager_never_holds_up_publishing(
    registry: prometheus_client.CollectorRegistry,
) -> None:
    with black_hole() as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        sender = AlertSender([url], registry, timeout=600).start()
        alerting = Alerting(sender, valid_for=300)
        cycles_done = threading.Event()

        def cycles() -> None:
            for step in range(5):
                alerting.publish(
                    decisions(decision("a", f"p{step}", "c")), {}, {}, time.time() + step
                )
            cycles_done.set()

        threading.Thread(target=cycles, daemon=True).start()
        # The worker hangs on the first post for up to ten minutes; publishing must not.
        assert cycles_done.wait(timeout=60), "publish blocked on an unresponsive Alertmanager"
        sender.stop(timeout=0)


def test_failed_deliveries_are_counted_and_retried_until_alertmanager_is_up(
    registry: prometheus_client.CollectorRegistry, webhook_receiver: WebhookReceiver
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sender = AlertSender([url], registry, min_backoff=0.2, max_backoff=1.0).start()
    try:
        Alerting(sender, valid_for=300).publish(
            decisions(decision("a", "retried", "c")), {}, {}, time.time()
        )

        def failures() -> float | None:
            return registry.get_sample_value(
                "iops_limit_alert_delivery_failures_total", {"alertmanager": url}
            )

        deadline = time.monotonic() + 30
        while (failures() or 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (failures() or 0) >= 2, "refused deliveries were not retried and counted"

        # Nothing else is published: the batch that failed must get through on its own.
        with AlertmanagerServer(webhook_receiver.url, port=port):
            payload = webhook_receiver.wait_for(lambda p: pods_in(p, "firing") == {"retried"})
            assert payload["alerts"][0]["labels"]["alertname"] == LIMIT_ALERT
            assert registry.get_sample_value(
                "iops_limit_alert_deliveries_total", {"alertmanager": url}
            ) == pytest.approx(1.0)
    finally:
        sender.stop()


def test_a_batch_that_cannot_be_sent_is_counted_and_the_next_one_still_goes_out(
    alertmanager: AlertmanagerServer,
    sender: AlertSender,
    registry: prometheus_client.CollectorRegistry,
    webhook_receiver: WebhookReceiver,
) -> None:
    def alert(pod: str, summary: str) -> Alert:
        labels = {"alertname": LIMIT_ALERT, "group": "g", "rule": "r", "pod": pod}
        return Alert(labels=labels, annotations={"summary": summary}, starts_at=time.time())

    sender.send([alert("broken", cast(str, object()))])  # JSON cannot carry that summary
    deadline = time.monotonic() + 30
    while (
        not registry.get_sample_value(
            "iops_limit_alert_delivery_failures_total", {"alertmanager": alertmanager.url}
        )
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)

    sender.send([alert("fine", "ok")])
    delivered = webhook_receiver.wait_for(lambda p: "fine" in pods_in(p, "firing"))
    assert pods_in(delivered, "firing") == {"fine"}
