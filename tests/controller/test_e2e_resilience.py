"""End to end: restarts, outages, API faults, people and tampering."""

import requests

from tests.fixtures.controller import Cluster, wait_for

WRITE_KEY = "iops-limit/write-iops.app"


def limited_writer(cluster: Cluster, **settings: object) -> None:
    """A pod writing well over the threshold, limited by a running controller."""
    cluster.add_pod("shop", "writer")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000, since=60)
    if cluster.prometheus is None:
        cluster.start_prometheus()


def test_a_restarted_controller_changes_nothing_and_a_steady_cycle_writes_nothing(
    cluster: Cluster,
) -> None:
    limited_writer(cluster)
    first = cluster.run()
    wait_for(lambda: cluster.annotations("shop", "writer").get(WRITE_KEY), "the limit")
    before = cluster.annotations("shop", "writer")
    first.stop()

    cluster.kube.clear_requests()
    second = cluster.run(metrics_port=0)
    wait_for(lambda: second.cycles() >= 5, "five cycles of the restarted controller")
    assert cluster.annotations("shop", "writer") == before
    assert cluster.kube.writes() == []  # steady: no patch, no Event


def test_prometheus_stopped_while_a_limit_is_applied_releases_nothing(cluster: Cluster) -> None:
    limited_writer(cluster)
    controller = cluster.run()
    wait_for(lambda: cluster.annotations("shop", "writer").get(WRITE_KEY), "the limit")
    assert cluster.prometheus is not None
    cluster.prometheus.stop()
    wait_for(lambda: controller.cycles("prometheus_error") >= 3, "three failed cycles")
    assert cluster.annotations("shop", "writer")[WRITE_KEY] == "500"
    assert controller.sample("iops_limit_prometheus_errors_total") >= 3
    readyz = requests.get(f"http://127.0.0.1:{controller.settings.metrics_port}/readyz", timeout=10)
    assert readyz.status_code == 503
    assert "Prometheus" in readyz.text


def test_api_errors_and_conflicts_lose_no_update(cluster: Cluster) -> None:
    cluster.add_pod("shop", "writer")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000, since=60)
    cluster.start_prometheus()
    cluster.kube.fail_next("PATCH", r"/pods/writer$", 500, times=2)
    cluster.kube.fail_next("PATCH", r"/pods/writer$", 409, times=1)
    controller = cluster.run()
    wait_for(lambda: cluster.annotations("shop", "writer").get(WRITE_KEY) == "500", "the limit")
    assert controller.sample("iops_limit_kube_api_errors_total", {"operation": "patch"}) >= 3
    failed = [r for r in cluster.kube.requests if r.method == "PATCH" and r.status >= 400]
    assert len(failed) == 3


def test_a_person_set_limit_is_left_alone(cluster: Cluster) -> None:
    cluster.add_pod("shop", "writer", annotations={"iops-limit/write-iops": "2000"})
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000, since=60)
    cluster.start_prometheus()
    controller = cluster.run()
    wait_for(lambda: controller.cycles() >= 8, "eight cycles")
    assert cluster.annotations("shop", "writer") == {"iops-limit/write-iops": "2000"}
    assert not [r for r in cluster.kube.writes() if "/pods/" in r.path]


def test_a_tampered_controller_key_is_restored_with_a_warning_event(cluster: Cluster) -> None:
    limited_writer(cluster)
    controller = cluster.run()
    wait_for(lambda: cluster.annotations("shop", "writer").get(WRITE_KEY), "the limit")
    pod = cluster.kube.get_pod("shop", "writer")
    pod["metadata"]["annotations"][WRITE_KEY] = "100000"
    cluster.kube.update_pod(pod)

    wait_for(lambda: cluster.annotations("shop", "writer")[WRITE_KEY] == "500", "the restore")
    [warning] = wait_for(lambda: cluster.events("IOPSLimitTampered"), "the Warning Event")
    assert warning["type"] == "Warning"
    assert "'100000'" in warning["message"]
    assert controller.sample("iops_limit_tampered_keys_total") == 1


def test_two_replicas_never_both_act(cluster: Cluster) -> None:
    cluster.add_pod("shop", "writer")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=10, since=60)
    cluster.start_prometheus()
    a = cluster.run(leader_elect=True, identity="replica-a")
    wait_for(lambda: a.cycles() >= 1, "replica a leading")
    b = cluster.run(leader_elect=True, identity="replica-b")
    wait_for(lambda: b.cycles("not_leader") >= 5, "replica b standing by")
    assert b.cycles() == 0
    assert (
        cluster.kube.get_lease("iops-limit", "iops-controller")["spec"]["holderIdentity"]
        == "replica-a"
    )

    a.stop()  # releases the Lease: b takes over without waiting for it to expire
    wait_for(lambda: b.cycles() >= 1, "replica b taking over")
    assert (
        cluster.kube.get_lease("iops-limit", "iops-controller")["spec"]["holderIdentity"]
        == "replica-b"
    )
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000)
    wait_for(lambda: cluster.annotations("shop", "writer").get(WRITE_KEY), "the new leader acting")
