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
from tests.fixtures.controller import Cluster, wait_for

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


@contextlib.contextmanager
def unresponsive_alertmanager() -> Iterator[str]:
    """A URL that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_cycles_keep_running_while_alertmanager_hangs(writers: Cluster) -> None:
    with unresponsive_alertmanager() as url:
        controller = writers.run(alertmanager_url=(url,))
        # Each post hangs for the sender's 10 s timeout; one-second cycles must go on meanwhile.
        wait_for(lambda: controller.cycles() >= 5, "five good cycles", timeout=60)
        delivered = controller.sample("iops_limit_alert_deliveries_total", {"alertmanager": url})
        assert delivered == 0.0, "nothing can have been delivered to a port that never answers"
