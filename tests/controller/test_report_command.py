"""``iops-controller report`` against the fake Kubernetes API and a real Prometheus.

Limits in force come from pod annotations; a released limit only from the controller's gauge
(backfilled into Prometheus as if the controller had exported it an hour ago); observed IO
from the cAdvisor series, now and at the time of the decision.
"""

import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cli import main
from controller.ownership import Held, record_annotations
from iops_limit.annotations import ContainerLimits
from sandbox.cadvisor_exporter import CadvisorExporter
from sandbox.cadvisor_series import Phase, Rates, container_id, pod_uid
from sandbox.fake_kube import FakeKube
from sandbox.prometheus import PrometheusServer, scraping

RULES = """\
groups:
  - name: noisy-neighbours
    rules:
      - name: sustained-writer
        expr: write_iops > 1000
        for: 5m
        limit: {write_iops: 500}
        severity: page
        summary: "{namespace}/{pod} {container} wrote {write_iops:.0f} IOPS for 5m"
"""
RULE = "noisy-neighbours/sustained-writer"


def gauge_openmetrics(now: float) -> str:
    """``iops_limit_applied`` as the controller exported it: writer-0 for the last ten minutes
    and, an earlier episode, from 45 to 40 minutes ago; batch-1 from 50 to 30 minutes ago on
    node-b (released since, its pod gone)."""

    def samples(pod: str, container: str, start: float, end: float, node: str) -> list[str]:
        labels = (
            f'container="{container}",direction="write_iops",namespace="team-a",'
            f'node="{node}",owner="controller",pod="{pod}",rule="{RULE}"'
        )
        times = range(int(start), int(end), 15)
        return [f"iops_limit_applied{{{labels}}} 500 {t}" for t in times]

    lines = ["# TYPE iops_limit_applied gauge"]
    lines += samples("batch-1", "job", now - 3000, now - 1800, "node-b")
    lines += samples("writer-0", "app", now - 2700, now - 2400, "node-a")
    lines += samples("writer-0", "app", now - 600, now - 30, "node-a")
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture
def reported(
    kube_api: FakeKube, cadvisor_exporter: CadvisorExporter, tmp_path: Path
) -> Iterator[list[str]]:
    """Pods, rates, gauge history and rules; yields the settings flags for ``report``."""
    now = time.time()
    held = Held(
        ContainerLimits(write_iops=500),
        "noisy-neighbours",
        "sustained-writer",
        since=now - 600,
        changed=now - 600,
        reason="write_iops 1480 > 1000 for 5m",
    )
    app = [{"name": "app", "image": "registry.example/app:1"}]
    kube_api.add_pod(
        kube_api.make_pod(
            "team-a",
            "writer-0",
            "node-a",
            containers=app,
            annotations=record_annotations({"app": held}),
        )
    )
    restic = [{"name": "restic", "image": "registry.example/restic:1"}]
    kube_api.add_pod(
        kube_api.make_pod(
            "ops",
            "backup-0",
            "node-c",
            containers=restic,
            annotations={"iops-limit/write-bps": "20000000"},
            uid=pod_uid("ops", "backup-0"),
            container_ids={"restic": "containerd://" + container_id("ops", "backup-0", "restic")},
        )
    )
    # backup-0 runs on a node whose cAdvisor runs standalone: its series carry only the
    # cgroup path (cgroupfs layout) and the container ID.
    cadvisor_exporter.set_rates(
        "ops", "backup-0", "restic", write_iops=300, standalone=True, driver="cgroupfs", since=900
    )
    # 1480 write IOPS until the limit ten minutes ago, about 490 since.
    cadvisor_exporter.set_rates(
        "team-a",
        "writer-0",
        "app",
        write_iops=490,
        history=[Phase(900, Rates(write_iops=1480)), Phase(600, Rates(write_iops=490))],
    )
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "noisy.yaml").write_text(RULES)
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    prometheus: PrometheusServer = scraping(cadvisor_exporter, scrape_interval="15s")
    try:
        prometheus.backfill_openmetrics(gauge_openmetrics(now))
        prometheus.start()
        yield [
            "--prometheus-url",
            prometheus.url,
            "--kubeconfig",
            str(kubeconfig),
            "--rules-path",
            str(rules),
            "--rate-window",
            "2m",
        ]
    finally:
        prometheus.close()


def report(flags: list[str], capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    assert main(["report", *flags, "--since", "1h", *extra]) == 0
    return capsys.readouterr().out


def test_report_shows_limits_in_force_released_and_a_persons_with_observed_io(
    reported: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = report(reported, capsys)
    assert f"== {RULE} (1 in force, 2 released)" in text
    assert "== set by a person (1 in force, 0 released)" in text
    assert "writer-0/app on node-a: write 500 IOPS\n" in text
    assert "writer-0/app on node-a: write 500 IOPS  [released]" in text  # the earlier episode
    assert "batch-1/job on node-b: write 500 IOPS  [released]" in text
    assert "backup-0/restic on node-c: write 20.0 MB/s" in text
    backup = text.split("backup-0/restic")[1]
    backup_now = re.search(r"observed now: .*write (\d+) IOPS", backup)
    assert backup_now is not None, backup  # the standalone series, mapped to the pod
    assert 250 <= int(backup_now.group(1)) <= 350
    assert "reason: write_iops 1480 > 1000 for 5m" in text
    writer = text.split("writer-0/app")[1].split("batch-1/job")[0]
    now_iops = re.search(r"observed now: .*write (\d+) IOPS", writer)
    then_iops = re.search(r"at decision: .*write (\d+) IOPS", writer)
    assert now_iops is not None and then_iops is not None, writer
    assert 400 <= int(now_iops.group(1)) <= 600
    assert 1300 <= int(then_iops.group(1)) <= 1600


def test_report_json_and_markdown_carry_the_same_records(
    reported: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(report(reported, capsys, "--format", "json"))
    rules = {rule["rule"]: rule for rule in document["rules"]}
    assert set(rules) == {RULE, "set by a person"}
    (team_a,) = rules[RULE]["namespaces"]
    assert [(limit["pod"], limit["inForce"]) for limit in team_a["limits"]] == [
        ("writer-0", True),
        ("batch-1", False),
        ("writer-0", False),
    ]
    markdown = report(reported, capsys, "--format", "markdown")
    assert f"## {RULE}" in markdown
    assert "| writer-0 | app | node-a | write 500 IOPS |" in markdown


def test_report_alertmanager_payload_uses_the_rules_severity_and_summary(
    reported: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    payloads = json.loads(report(reported, capsys, "--format", "alertmanager", "--receiver", "ops"))
    (payload,) = payloads  # one group: the person's limit raises no alert
    assert payload["receiver"] == "ops"
    assert payload["groupLabels"] == {
        "alertname": "IOPSLimitApplied",
        "group": "noisy-neighbours",
        "rule": "sustained-writer",
    }
    by_pod = {alert["labels"]["pod"]: alert for alert in payload["alerts"]}
    assert by_pod["writer-0"]["status"] == "firing"
    assert by_pod["writer-0"]["labels"]["severity"] == "page"
    summary = by_pod["writer-0"]["annotations"]["summary"]
    assert re.fullmatch(r"team-a/writer-0 app wrote 1[3-6]\d\d IOPS for 5m", summary), summary
    assert by_pod["batch-1"]["status"] == "resolved"


def test_report_without_prometheus_still_lists_the_limits_in_force(
    reported: list[str], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{closed.getsockname()[1]}"
    flags = [unreachable if flag.startswith("http://") else flag for flag in reported]
    text = report(flags, capsys)
    assert "writer-0/app on node-a: write 500 IOPS" in text
    assert "batch-1" not in text  # the released one is only known to Prometheus
    assert "Prometheus failed" in caplog.text


def test_report_logs_its_settings_at_start_with_header_values_masked(
    kubeconfig: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="controller")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{closed.getsockname()[1]}"
    flags = ["--kubeconfig", str(kubeconfig), "--prometheus-url", unreachable]
    flags += ["--rules-path", str(tmp_path), "--prometheus-headers", "X-Scope-OrgID=tenant-secret"]
    report(flags, capsys)
    assert f"setting PROMETHEUS_URL={unreachable}" in caplog.text
    assert "setting PROMETHEUS_HEADERS=X-Scope-OrgID=***" in caplog.text
    assert "tenant-secret" not in caplog.text
