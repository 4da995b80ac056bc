"""The running service's /metrics over HTTP: the documented families, and API failures counted."""

import re
from pathlib import Path

import requests

from tests.fixtures.controller import Cluster, wait_for

README = Path(__file__).resolve().parents[2] / "README.md"
WRITE_KEY = "iops-limit/write-iops.app"


def documented_metrics() -> set[str]:
    """The names in the README's controller **Metrics** paragraph."""
    text = README.read_text()
    start = text.index("**Metrics** (`/metrics`)")
    paragraph = text[start : text.index("\n\n", start)]
    return set(re.findall(r"`(iops_limit_[a-z_]+)", paragraph))


def families(exposition: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", exposition, re.MULTILINE))


def sample(exposition: str, name: str, labels: str) -> float:
    match = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", exposition, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_endpoint_serves_every_documented_family_and_counts_refused_patches(
    cluster: Cluster,
) -> None:
    cluster.add_pod("shop", "writer")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000, since=60)
    cluster.start_prometheus()
    # One patch plus four retries refused: the first acting cycle gives up on the pod.
    cluster.kube.fail_next("PATCH", r"/pods/writer$", 500, times=5)
    controller = cluster.run(leader_elect=True)
    wait_for(lambda: cluster.annotations("shop", "writer").get(WRITE_KEY), "the limit")
    url = f"http://127.0.0.1:{controller.settings.metrics_port}/metrics"
    exposition = requests.get(url, timeout=10).text

    expected = documented_metrics()
    assert len(expected) >= 11
    assert expected <= families(exposition)
    assert sample(exposition, "iops_limit_cycles_total", 'result="kube_error"') >= 1
    assert sample(exposition, "iops_limit_kube_api_errors_total", 'operation="patch"') == 5
    assert sample(exposition, "iops_limit_cycles_total", 'result="ok"') >= 1
    assert re.search(r"^iops_limit_leader 1\.0$", exposition, re.MULTILINE)
