"""``iops-controller run`` sending alerts to a real Alertmanager, and the report beside them.

The ``cluster`` fixture (tests/fixtures/controller.py) gives the fake Kubernetes API, a
cAdvisor-format exporter, a real Prometheus and the controller as a Service in a thread with
one-second cycles; ``alertmanager`` a real Alertmanager delivering to ``webhook_receiver``.
"""

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controller.cli import main
from sandbox.alertmanager import AlertmanagerServer, WebhookReceiver
from tests.fixtures.controller import Cluster, free_port, wait_for

Payload = dict[str, Any]


@pytest.fixture
def writers(cluster: Cluster) -> Cluster:
    """A noisy writer and a quiet pod, over the threshold long enough to be limited at once."""
    cluster.write_rules(for_="2s", release_for="2s")
    cluster.add_pod("team-a", "writer-0")
    cluster.add_pod("team-a", "quiet-0")
    cluster.exporter.set_rates("team-a", "writer-0", "app", write_iops=1480, since=60)
    cluster.exporter.set_rates("team-a", "quiet-0", "app", write_iops=20, since=60)
    cluster.start_prometheus()
    return cluster


def is_limit(status: str, pod: str) -> Callable[[Payload], bool]:
    def match(payload: Payload) -> bool:
        return any(
            alert["labels"].get("alertname") == "IOPSLimitApplied"
            and alert["labels"].get("pod") == pod
            and alert["status"] == status
            for alert in payload["alerts"]
        )

    return match


def is_degraded(status: str) -> Callable[[Payload], bool]:
    return lambda p: bool(
        p["groupLabels"].get("alertname") == "IOPSControllerDegraded" and p["status"] == status
    )


def test_limit_alert_fires_grouped_by_rule_matches_the_report_and_resolves_on_release(
    writers: Cluster,
    alertmanager: AlertmanagerServer,
    webhook_receiver: WebhookReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    controller = writers.run(alertmanager_url=(alertmanager.url,))

    delivered = webhook_receiver.wait_for(is_limit("firing", "writer-0"), timeout=90)
    assert delivered["groupLabels"] == {
        "alertname": "IOPSLimitApplied",
        "group": "noisy",
        "rule": "writer",
    }
    (alert,) = delivered["alerts"]
    assert alert["labels"]["namespace"] == "team-a"
    assert alert["labels"]["container"] == "app"
    assert "Limit: write 500 IOPS" in alert["annotations"]["description"]

    # The report's alertmanager format: what Alertmanager delivered, computed from the cluster.
    settings = controller.settings
    assert writers.prometheus is not None
    flags = ["--prometheus-url", writers.prometheus.url, "--kubeconfig", settings.kubeconfig]
    flags += ["--rules-path", settings.rules_path, "--rate-window", "5s"]
    flags += ["--receiver", alertmanager.receiver, "--external-url", alertmanager.url]
    capsys.readouterr()
    assert main(["report", *flags, "--format", "alertmanager", "--since", "10m"]) == 0
    (computed,) = json.loads(capsys.readouterr().out)
    print("delivered webhook payload:", json.dumps(delivered, indent=2))
    assert list(computed) == list(delivered)  # same keys, same order
    for key in ("receiver", "status", "groupLabels", "commonLabels", "externalURL", "version"):
        assert computed[key] == delivered[key], key
    assert computed["groupKey"] == delivered["groupKey"]
    assert [a["fingerprint"] for a in computed["alerts"]] == [alert["fingerprint"]]
    assert computed["alerts"][0]["startsAt"] == alert["startsAt"]
    # Annotations are the only difference: the live alert's reason is this cycle's.
    assert computed["alerts"][0]["annotations"].keys() == alert["annotations"].keys()

    # The writer calms down: the limit is released and its alert resolves.
    writers.exporter.set_rates("team-a", "writer-0", "app", write_iops=10)
    resolved = webhook_receiver.wait_for(is_limit("resolved", "writer-0"), timeout=90)
    assert resolved["status"] == "resolved", json.dumps(resolved, indent=1)
    # One alert from limit to release: a cycle without data for it did not reopen another.
    fingerprints = {
        alert["fingerprint"]
        for payload in webhook_receiver.payloads()
        for alert in payload["alerts"]
        if alert["labels"]["pod"] == "writer-0"
    }
    assert fingerprints == {alert["fingerprint"]}


def test_degraded_alert_fires_while_prometheus_is_down_and_resolves_when_it_is_back(
    writers: Cluster, alertmanager: AlertmanagerServer, webhook_receiver: WebhookReceiver
) -> None:
    controller = writers.run(alertmanager_url=(alertmanager.url,))
    wait_for(lambda: controller.cycles() >= 2, "two good cycles")
    assert writers.prometheus is not None

    writers.prometheus.stop()
    firing = webhook_receiver.wait_for(is_degraded("firing"), timeout=90)
    (alert,) = firing["alerts"]
    assert alert["labels"]["cause"] == "prometheus"
    assert "Prometheus cannot be queried" in alert["annotations"]["description"]

    writers.prometheus.start()
    webhook_receiver.wait_for(is_degraded("resolved"), timeout=90)


def test_degraded_alert_fires_while_new_rule_files_are_rejected(
    writers: Cluster, alertmanager: AlertmanagerServer, webhook_receiver: WebhookReceiver
) -> None:
    controller = writers.run(alertmanager_url=(alertmanager.url,))
    wait_for(lambda: controller.cycles() >= 2, "two good cycles")

    (writers.rules_dir / "broken.yaml").write_text("groups:\n  - name: x\n    rules: 7\n")
    firing = webhook_receiver.wait_for(is_degraded("firing"), timeout=90)
    (alert,) = firing["alerts"]
    assert alert["labels"]["cause"] == "rules"
    assert "broken.yaml" in alert["annotations"]["description"]

    (writers.rules_dir / "broken.yaml").unlink()
    webhook_receiver.wait_for(is_degraded("resolved"), timeout=90)


@pytest.mark.parametrize("breakage", ["path gone", "not UTF-8"])
def test_degraded_alert_fires_while_the_rules_path_is_unreadable_and_resolves_when_it_is_back(
    writers: Cluster,
    alertmanager: AlertmanagerServer,
    webhook_receiver: WebhookReceiver,
    breakage: str,
) -> None:
    controller = writers.run(alertmanager_url=(alertmanager.url,))
    wait_for(lambda: controller.cycles() >= 2, "two good cycles")
    rules_file = writers.rules_dir / "rules.yaml"
    good = rules_file.read_bytes()
    away = writers.rules_dir.with_name("rules-away")

    if breakage == "path gone":
        writers.rules_dir.rename(away)
    else:
        rules_file.write_bytes(b"groups:\n  - name: \xff\xfe\n")
    firing = webhook_receiver.wait_for(is_degraded("firing"), timeout=90)
    (alert,) = firing["alerts"]
    assert alert["labels"]["cause"] == "rules"

    if breakage == "path gone":
        away.rename(writers.rules_dir)
    else:
        rules_file.write_bytes(good)
    webhook_receiver.wait_for(is_degraded("resolved"), timeout=90)


def test_both_alertmanagers_of_two_receive_the_limit_alert(
    writers: Cluster, alertmanager: AlertmanagerServer, webhook_receiver: WebhookReceiver
) -> None:
    with WebhookReceiver() as second_receiver, AlertmanagerServer(second_receiver.url) as second:
        writers.run(alertmanager_url=(alertmanager.url, second.url))
        for receiver in (webhook_receiver, second_receiver):
            (alert,) = receiver.wait_for(is_limit("firing", "writer-0"), timeout=90)["alerts"]
            assert alert["labels"]["rule"] == "writer"


@contextlib.contextmanager
def refused_alertmanager() -> Iterator[str]:
    """A URL nothing listens on (a port the kernel just freed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def unresponsive_alertmanager() -> Iterator[str]:
    """A URL that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("broken", ["hanging", "down"])
def test_an_alertmanager_hanging_or_down_blocks_neither_cycles_nor_the_other_one(
    writers: Cluster,
    alertmanager: AlertmanagerServer,
    webhook_receiver: WebhookReceiver,
    broken: str,
) -> None:
    opened = unresponsive_alertmanager() if broken == "hanging" else refused_alertmanager()
    with opened as bad:
        controller = writers.run(alertmanager_url=(bad, alertmanager.url))
        webhook_receiver.wait_for(is_limit("firing", "writer-0"), timeout=90)
        start = controller.cycles()
        wait_for(lambda: controller.cycles() >= start + 5, "five more cycles")
        labels = {"alertmanager": bad}
        assert controller.sample("iops_limit_alert_deliveries_total", labels) == 0.0
        if broken == "hanging":
            # Each post to it hangs until the sender's 10 s timeout, one attempt at a time: had
            # cycles waited for posts there would be no more cycles than ended attempts.
            attempts = controller.sample("iops_limit_alert_delivery_failures_total", labels)
            assert controller.cycles() > attempts + 5


def test_resolved_group_through_a_child_route_equals_the_reports_alertmanager_format(
    cluster: Cluster, webhook_receiver: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report's payload for a released limit is the resolved one Alertmanager delivered:
    same keys, grouping, group key (of a child route) and status."""
    metrics_port = free_port()
    cluster.write_rules(for_="2s", release_for="2s")
    cluster.add_pod("team-a", "writer-0")
    cluster.exporter.set_rates("team-a", "writer-0", "app", write_iops=1480, since=60)
    prometheus = cluster.start_prometheus(controller_port=metrics_port)
    child = ['alertname="IOPSLimitApplied"']
    with AlertmanagerServer(webhook_receiver.url, child_matchers=child) as alertmanager:
        controller = cluster.run(alertmanager_url=(alertmanager.url,), metrics_port=metrics_port)
        webhook_receiver.wait_for(is_limit("firing", "writer-0"), timeout=90)
        cluster.exporter.set_rates("team-a", "writer-0", "app", write_iops=10)
        resolved = webhook_receiver.wait_for(is_limit("resolved", "writer-0"), timeout=90)

        flags = ["--prometheus-url", prometheus.url, "--kubeconfig", str(cluster.kubeconfig)]
        flags += ["--rules-path", controller.settings.rules_path, "--rate-window", "5s"]
        flags += ["--receiver", alertmanager.receiver, "--external-url", alertmanager.url]
        flags += ["--route-key", '{}/{alertname="IOPSLimitApplied"}', "--since", "5m"]
        capsys.readouterr()
        assert main(["report", *flags, "--format", "alertmanager"]) == 0
    (computed,) = json.loads(capsys.readouterr().out)
    print("delivered webhook payload:", json.dumps(resolved, indent=2))
    assert list(computed) == list(resolved)
    for key in ("receiver", "status", "groupLabels", "commonLabels", "groupKey", "externalURL"):
        assert computed[key] == resolved[key], key
    assert computed["status"] == "resolved"
    assert [(a["fingerprint"], a["status"], list(a)) for a in computed["alerts"]] == [
        (a["fingerprint"], a["status"], list(a)) for a in resolved["alerts"]
    ]
