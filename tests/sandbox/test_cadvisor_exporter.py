"""The cAdvisor-format exporter, the OpenMetrics history and the real Prometheus launcher."""

import io
import time
from dataclasses import replace
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from sandbox.cadvisor_exporter import CadvisorExporter
from sandbox.cadvisor_series import (
    ContainerSeries,
    Counters,
    Driver,
    Phase,
    QosClass,
    Rates,
)
from sandbox.history import Target, write_openmetrics
from sandbox.prometheus import PrometheusServer
from tests.fixtures.prometheus import PrometheusFactory


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def scraped(exporter: CadvisorExporter) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(metric, labels) -> value, parsed from a real HTTP scrape by prometheus_client."""
    body = requests.get(exporter.url, timeout=10).text
    out = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def values_for(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], metric: str, **labels: str
) -> list[float]:
    wanted = set(labels.items())
    return [v for (name, lbls), v in samples.items() if name == metric and wanted <= lbls]


def query(server: PrometheusServer, promql: str, **params: Any) -> list[dict[str, Any]]:
    response = requests.get(
        f"{server.url}/api/v1/query", params={"query": promql, **params}, timeout=30
    )
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def test_counters_grow_at_the_set_rates_and_stay_monotonic_when_rates_change() -> None:
    clock = FakeClock()
    with CadvisorExporter(clock=clock) as exporter:
        exporter.set_rates("shop", "db-0", "mysql", write_iops=100, read_bps=4096)
        clock.now += 10
        first = scraped(exporter)
        assert values_for(first, "container_fs_writes_total", pod="db-0") == [1000.0]
        assert values_for(first, "container_fs_reads_bytes_total", pod="db-0") == [40960.0]
        assert values_for(first, "container_fs_reads_total", pod="db-0") == [0.0]

        exporter.set_rates("shop", "db-0", "mysql", write_iops=1)
        clock.now += 10
        second = scraped(exporter)
        assert values_for(second, "container_fs_writes_total", pod="db-0") == [1010.0]
        assert values_for(second, "container_fs_reads_bytes_total", pod="db-0") == [40960.0]


def test_series_carry_kubelet_labels_with_the_cgroup_path_in_id() -> None:
    with CadvisorExporter() as exporter:
        series = exporter.set_rates("shop", "db-0", "mysql", write_iops=1, uid="1234-abcd")
        samples = scraped(exporter)
    (labels,) = [dict(lbls) for (name, lbls) in samples if name == "container_fs_writes_total"]
    assert labels == {
        "container": "mysql",
        "device": "/dev/nvme0n1",
        "id": "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_abcd.slice"
        f"/cri-containerd-{series.cid}.scope",
        "image": "registry.example/app:1",
        "name": series.cid,
        "namespace": "shop",
        "pod": "db-0",
    }
    assert len(series.cid) == 64


@pytest.mark.parametrize(
    ("driver", "qos", "expected"),
    [
        ("systemd", "besteffort", "/kubepods.slice/kubepods-besteffort.slice/"
         "kubepods-besteffort-poda_b.slice/cri-containerd-c1.scope"),
        ("systemd", "guaranteed", "/kubepods.slice/kubepods-poda_b.slice/cri-containerd-c1.scope"),
        ("cgroupfs", "burstable", "/kubepods/burstable/poda-b/c1"),
        ("cgroupfs", "guaranteed", "/kubepods/poda-b/c1"),
    ],
)  # fmt: skip
def test_standalone_series_carry_only_id_name_and_device(
    driver: Driver, qos: QosClass, expected: str
) -> None:
    series = ContainerSeries(
        "ns", "p", "c", uid="a-b", cid="c1", driver=driver, qos=qos, standalone=True
    )
    assert series.labels() == {"device": "/dev/nvme0n1", "id": expected, "name": "c1"}


def test_noise_series_pod_level_pause_and_other_device() -> None:
    clock = FakeClock()
    with CadvisorExporter(clock=clock, pod_level=True, pause=True, other_device="/dev/sda") as ex:
        ex.set_rates("shop", "web", "app", write_iops=10)
        sidecar = ex.set_rates("shop", "web", "sidecar", write_iops=5)
        ex.set_series_rates(replace(sidecar, image="registry.example/proxy:2"), Rates(write_iops=5))
        ex.remove(sidecar)
        clock.now += 100
        samples = scraped(ex)
    writes = "container_fs_writes_total"
    assert values_for(samples, writes, pod="web", container="app", device="/dev/sda") == [1000.0]
    assert values_for(samples, writes, pod="web", container="app", device="/dev/nvme0n1") == [
        1000.0
    ]
    assert values_for(samples, writes, pod="web", container="") == [1500.0]
    (pause,) = values_for(samples, writes, pod="web", container="POD")
    assert pause > 0


def test_explicit_timestamps_like_kubelet() -> None:
    clock = FakeClock()
    with CadvisorExporter(clock=clock, timestamps=True) as exporter:
        exporter.set_rates("shop", "db-0", "mysql", write_iops=1)
        body = requests.get(exporter.url, timeout=10).text
    samples = [line for line in body.splitlines() if not line.startswith("#")]
    assert samples and all(line.endswith(" 1700000000000") for line in samples)


def test_source_callback_serves_counters_read_elsewhere() -> None:
    series = ContainerSeries("demo", "fio", "fio")

    def read() -> list[tuple[ContainerSeries, Counters]]:
        return [(series, Counters(writes=42.0))]

    with CadvisorExporter(source=read) as exporter:
        samples = scraped(exporter)
    assert values_for(samples, "container_fs_writes_total", pod="fio") == [42.0]


def test_openmetrics_history_ends_on_the_counters_the_exporter_continues_from() -> None:
    clock = FakeClock()
    exporter = CadvisorExporter(clock=clock)
    try:
        exporter.set_rates(
            "shop",
            "db-0",
            "mysql",
            write_iops=10,
            history=[Phase(60, Rates(write_iops=100)), Phase(30, Rates(write_iops=10))],
        )
        out = io.StringIO()
        written = write_openmetrics(
            out, [(p, Target("cadvisor", "h:1")) for p in exporter.pasts()], step=15
        )
        (live,) = [c for s, c in exporter.samples()]
    finally:
        exporter.stop()
    text = out.getvalue()
    assert written == 4 * 7  # 90 s at 15 s steps, both ends included, four metrics
    assert text.endswith("# EOF\n")
    writes = [line for line in text.splitlines() if line.startswith("container_fs_writes_total")]
    values = [float(line.split()[1]) for line in writes]
    times = [float(line.split()[2]) for line in writes]
    assert values == [0.0, 1500.0, 3000.0, 4500.0, 6000.0, 6150.0, 6300.0]
    assert times[-1] == clock.now
    assert live.writes == values[-1]
    assert 'job="cadvisor"' in writes[0] and 'instance="h:1"' in writes[0]


def test_backfilled_past_joins_live_scrapes_so_rate_is_right_from_the_first_query(
    cadvisor_exporter: CadvisorExporter, prometheus: PrometheusFactory
) -> None:
    cadvisor_exporter.set_rates("shop", "db-0", "mysql", write_iops=2000, since=300)
    server = prometheus(cadvisor_exporter)
    promql = 'rate(container_fs_writes_total{pod="db-0"}[2m])'
    ((_, _, past_end),) = cadvisor_exporter.pasts()
    (backfilled,) = query(server, promql, time=past_end - 1)
    assert float(backfilled["value"][1]) == pytest.approx(2000, rel=0.01)
    cadvisor_exporter.wait_for_scrapes(3)
    (after_scrapes,) = query(server, promql)
    assert float(after_scrapes["value"][1]) == pytest.approx(2000, rel=0.05)
    assert after_scrapes["metric"]["job"] == "cadvisor"


def test_restart_on_the_same_data_dir_keeps_the_data(
    cadvisor_exporter: CadvisorExporter, prometheus: PrometheusFactory
) -> None:
    cadvisor_exporter.set_rates("shop", "db-0", "mysql", write_iops=50, since=120)
    server = prometheus(cadvisor_exporter)
    past = time.time() - 60
    server.stop()
    assert not server.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/-/ready", timeout=5)
    server.start()
    (sample,) = query(server, 'container_fs_writes_total{pod="db-0"}', time=past)
    assert float(sample["value"][1]) > 0


def test_same_target_under_two_jobs_is_scraped_twice(
    cadvisor_exporter: CadvisorExporter, prometheus: PrometheusFactory
) -> None:
    cadvisor_exporter.set_rates("shop", "db-0", "mysql", write_iops=50, since=60)
    server = prometheus({"kubelet": [cadvisor_exporter], "cadvisor": [cadvisor_exporter]})
    jobs = {s["metric"]["job"] for s in query(server, "container_fs_writes_total")}
    assert jobs == {"kubelet", "cadvisor"}


def test_route_prefix_serves_the_api_under_a_path(
    cadvisor_exporter: CadvisorExporter, prometheus: PrometheusFactory
) -> None:
    server = prometheus(cadvisor_exporter, route_prefix="/prom/")
    assert server.url.endswith("/prom")
    assert query(server, "vector(1)")[0]["value"][1] == "1"
    root = requests.get(f"http://127.0.0.1:{server.port}/api/v1/query?query=1", timeout=10)
    assert root.status_code == 404
