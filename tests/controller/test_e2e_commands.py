"""The ``iops-controller`` commands as operators run them: real processes, real Prometheus."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fixtures.controller import FAST, Cluster, wait_for

ROOT = Path(__file__).resolve().parents[2]


def environment(cluster: Cluster, **extra: str) -> dict[str, str]:
    assert cluster.prometheus is not None
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PROMETHEUS_URL": cluster.prometheus.url,
        "RULES_PATH": str(cluster.rules_dir),
        "KUBECONFIG": str(cluster.kubeconfig),
        "INTERVAL": "1s",
        "RATE_WINDOW": "5s",
        "MIN_HOLD": "0s",
        "METRICS_PORT": "0",
        "LEASE_NAMESPACE": "iops-limit",
        # A header value stands in for a secret: the settings log must mask it.
        "PROMETHEUS_HEADERS": "X-Scope-OrgID=tenant-secret",
    }
    env.update(extra)
    return env


def assert_settings_logged(stderr: str) -> None:
    """Every command logs its effective settings at start-up, secrets masked."""
    assert "setting INTERVAL=1s" in stderr
    assert "setting RATE_WINDOW=" in stderr
    assert "setting PROMETHEUS_HEADERS=X-Scope-OrgID=***" in stderr
    assert "tenant-secret" not in stderr


def controller(cluster: Cluster, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=ROOT,
        env=environment(cluster, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def close_to(shown: str, rate: float) -> bool:
    """Rates read live sit near the set rate: the last seconds of the window join the backfill
    to the first live scrapes."""
    return abs(float(shown) - rate) <= 0.3 * rate + 3


def two_pods(cluster: Cluster) -> None:
    cluster.write_rules(for_="5m", release_for="10m")
    cluster.add_pod("shop", "writer")
    cluster.add_pod("shop", "manual", annotations={"iops-limit/read-iops": "700"})
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=2500, read_iops=7, since=600)
    cluster.exporter.set_rates("shop", "manual", "app", read_iops=300, since=600)
    cluster.start_prometheus()


def test_once_dry_run_prints_the_decision_table_and_patches_nothing(cluster: Cluster) -> None:
    two_pods(cluster)
    done = controller(cluster, "once", "--dry-run", "--rate-window", "30s")
    assert done.returncode == 0, done.stderr
    assert_settings_logged(done.stderr)
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "CONTAINER", "READ", "IOPS", "WRITE", "IOPS", "RULE", "DECISION", "LIMIT", "REASON",
    ]  # fmt: skip
    [writer] = [line for line in lines if line.startswith("shop/writer/app")]
    read, write, *rest = writer.split()[1:6]
    assert rest == ["noisy/writer", "apply", "write"]
    assert close_to(read, 7) and close_to(write, 2500)
    assert "1 pod(s) would patch" in done.stdout
    assert cluster.annotations("shop", "writer") == {}


def test_once_json_output_and_a_real_patch(cluster: Cluster) -> None:
    two_pods(cluster)
    done = controller(cluster, "once", "--output", "json", "--rate-window", "30s")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    by_container = {row["container"]: row for row in rows}
    assert by_container["shop/writer/app"]["decision"] == "apply"
    assert by_container["shop/writer/app"]["limit"] == "write 500 IOPS"
    assert by_container["shop/manual/app"]["decision"] == "keep"
    assert cluster.annotations("shop", "writer")["iops-limit/write-iops.app"] == "500"


def test_status_lists_controller_and_person_limits_with_observed_io(cluster: Cluster) -> None:
    two_pods(cluster)
    assert controller(cluster, "once", "--rate-window", "30s").returncode == 0
    done = controller(cluster, "status", "--output", "json", "--rate-window", "30s")
    assert done.returncode == 0, done.stderr
    assert_settings_logged(done.stderr)
    rows = {row["pod"]: row for row in json.loads(done.stdout)}
    assert rows["shop/writer"]["by"] == "controller noisy/writer"
    assert rows["shop/writer"]["limit"] == "write 500 IOPS"
    assert close_to(rows["shop/writer"]["write_iops"], 2500)
    assert rows["shop/manual"]["by"] == "person"
    assert rows["shop/manual"]["limit"] == "read 700 IOPS"
    assert close_to(rows["shop/manual"]["read_iops"], 300)


def test_watch_streams_limit_changes_with_who_made_them(cluster: Cluster) -> None:
    two_pods(cluster)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "controller", "watch", "--output", "json"],
        cwd=ROOT,
        env=environment(cluster),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started: list[str] = []
    try:
        assert watcher.stderr is not None and watcher.stdout is not None
        while not started or "watching limit changes" not in started[-1]:
            # Start-up log lines; readline blocks until the next one.
            started.append(watcher.stderr.readline())
        assert controller(cluster, "once", "--rate-window", "30s").returncode == 0
        pod = cluster.kube.get_pod("shop", "manual")
        pod["metadata"]["annotations"]["iops-limit/read-iops"] = "900"
        cluster.kube.update_pod(pod)
        first = json.loads(watcher.stdout.readline())
        second = json.loads(watcher.stdout.readline())
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=30)
    assert (first["pod"], first["before"], first["after"]) == ("shop/writer", "-", "write 500 IOPS")
    assert first["by"] == "controller (noisy/writer)"
    assert (second["pod"], second["before"], second["after"]) == (
        "shop/manual",
        "read 700 IOPS",
        "read 900 IOPS",
    )
    assert second["by"] == "person"
    assert watcher.returncode == 0
    assert_settings_logged("".join(started))


def test_run_stops_cleanly_on_sigterm_and_releases_its_lease(cluster: Cluster) -> None:
    cluster.add_pod("shop", "writer")
    cluster.start_prometheus()
    service = subprocess.Popen(
        [sys.executable, "-m", "controller", "run"],
        cwd=ROOT,
        env=environment(
            cluster,
            IDENTITY="replica-a",
            LEASE_DURATION=f"{FAST['lease_duration']:g}s",
            LEASE_RENEW="1s",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: _holder(cluster) == "replica-a",
            "the service to take the Lease",
        )
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=60)
    finally:
        if service.poll() is None:
            service.kill()
    assert service.returncode == 0, stderr
    assert _holder(cluster) in ("", None)
    assert_settings_logged(stderr)


def _holder(cluster: Cluster) -> Any:
    try:
        return cluster.kube.get_lease("iops-limit", "iops-controller")["spec"].get("holderIdentity")
    except Exception:
        return "no lease yet"
