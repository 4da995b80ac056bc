"""``iops-controller status`` maps standalone-cAdvisor series (cgroup path and name only) to
pods as the cycle does, for both cgroup drivers; real Prometheus, fake API."""

from pathlib import Path

import pytest

from controller.commands.status import observed, status_rows
from controller.kubeapi import KubeApi
from controller.pods import PodCache
from controller.ratelimit import TokenBucket
from controller.settings import ControllerSettings
from sandbox.cadvisor_exporter import CadvisorExporter
from sandbox.cadvisor_series import Driver, container_id, pod_uid
from sandbox.fake_kube import FakeKube
from tests.fixtures.prometheus import PrometheusFactory


def add_limited_pod(kube: FakeKube, name: str) -> None:
    kube.add_pod(
        kube.make_pod(
            "shop",
            name,
            "node-a",
            containers=[{"name": "app", "image": "app:1"}],
            annotations={"iops-limit/write-iops": "5000"},
            uid=pod_uid("shop", name),
            container_ids={"app": "containerd://" + container_id("shop", name, "app")},
        )
    )


@pytest.mark.parametrize("driver", ["systemd", "cgroupfs"])
def test_standalone_cadvisor_series_show_as_the_observed_io_of_their_pods(
    driver: Driver,
    cadvisor_exporter: CadvisorExporter,
    prometheus: PrometheusFactory,
    kube_api: FakeKube,
    kubeconfig: Path,
) -> None:
    add_limited_pod(kube_api, "db-0")
    cadvisor_exporter.set_rates(
        "shop", "db-0", "app", write_iops=700, standalone=True, driver=driver, since=300
    )
    server = prometheus(cadvisor_exporter)
    settings = ControllerSettings(prometheus_url=server.url, kubeconfig=str(kubeconfig))
    cache = PodCache(KubeApi(kube_api.api_client(), TokenBucket(100, 100)))
    cache.sync()

    [row] = status_rows(cache, settings, observed(settings, cache))
    assert (row["pod"], row["container"], row["by"]) == ("shop/db-0", "app", "person")
    assert float(row["write_iops"]) == pytest.approx(700, rel=0.05)
