"""End to end: restarts, outages, API faults, people and tampering."""

import logging
import math
import re

import pytest
import requests

from sandbox.cadvisor_series import ContainerSeries
from tests.controller.steps import decided_steps, first_complete, first_with, observed, seeded
from tests.fixtures.controller import FAST, Cluster, RunningController, wait_for

WRITE_KEY = "iops-limit/write-iops.app"
INTERVAL = FAST["interval"]
RELEASE_FOR = 4.0  # the fixture's default rules
# More evaluation steps than the release window spans: a controller that took a step without
# a reading for a quiet one would have released by then.
PAST_RELEASE_WINDOW = math.ceil(RELEASE_FOR / INTERVAL) + 2


def limited_writer(cluster: Cluster) -> ContainerSeries:
    """A pod writing well over the threshold (a running controller will limit it)."""
    cluster.add_pod("shop", "writer")
    series = cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000, since=60)
    if cluster.prometheus is None:
        cluster.start_prometheus()
    return series


def readyz(controller: RunningController) -> requests.Response:
    url = f"http://127.0.0.1:{controller.settings.metrics_port}/readyz"
    return requests.get(url, timeout=10)


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


def test_prometheus_down_for_longer_than_the_release_for_releases_nothing(
    cluster: Cluster,
) -> None:
    limited_writer(cluster)
    controller = cluster.run()
    decided_steps(controller, "apply")
    assert cluster.prometheus is not None
    cluster.prometheus.stop()
    # Demand falls under the release threshold while nobody can see it.
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=10)
    # Cycles run one at a time: after a failed one, no cycle that still read Prometheus is
    # left to write or decide.
    wait_for(lambda: controller.cycles("prometheus_error") >= 1, "a failed cycle")
    cluster.kube.clear_requests()
    decided = len(controller.results)
    wait_for(
        lambda: controller.cycles("prometheus_error") >= PAST_RELEASE_WINDOW,
        "failed cycles spanning more than the release window",
    )
    assert cluster.annotations("shop", "writer")[WRITE_KEY] == "500"
    assert cluster.kube.writes() == []  # no patch, no Event
    assert len(controller.results) == decided  # nothing was decided
    assert controller.sample("iops_limit_prometheus_errors_total") >= PAST_RELEASE_WINDOW
    assert controller.cycles("error") == 0
    down = readyz(controller)
    assert down.status_code == 503
    assert "Prometheus" in down.text

    cluster.prometheus.start()
    wait_for(lambda: readyz(controller).status_code == 200, "readiness back")
    wait_for(lambda: WRITE_KEY not in cluster.annotations("shop", "writer"), "the release")
    # Back to normal: released at the step the release window completed on fresh readings
    # (history re-read from Prometheus after the gap), not at once on the outage's silence.
    cycles = decided_steps(controller, "release", decided)
    history = seeded(controller.settings, RELEASE_FOR, cycles[0].time)
    released_at = first_with(cycles, "release")
    assert released_at == first_complete(cycles, lambda w: w < 250, RELEASE_FOR, INTERVAL, history)
    assert cycles[0].action == "keep"


def test_a_limited_container_prometheus_has_no_data_for_keeps_its_limit(cluster: Cluster) -> None:
    series = limited_writer(cluster)
    controller = cluster.run()
    # After a step that kept the limit, the cycle that applied it has finished writing.
    decided = len(decided_steps(controller, "keep"))
    cluster.kube.clear_requests()
    cluster.exporter.remove(series)  # its series go stale: Prometheus returns nothing for it

    def silent_steps() -> int:
        return sum(math.isnan(s.write_iops) for s in observed(controller.results)[decided:])

    wait_for(lambda: silent_steps() >= PAST_RELEASE_WINDOW, "steps without data")
    steps = observed(controller.results)[decided:]
    assert all(step.action == "keep" and step.limited for step in steps)
    assert cluster.annotations("shop", "writer")[WRITE_KEY] == "500"
    assert cluster.kube.writes() == []
    assert controller.cycles("prometheus_error") == controller.cycles("error") == 0
    assert readyz(controller).status_code == 200


def test_conflicts_refusals_and_server_errors_are_retried_with_backoff_until_the_limit_lands(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="controller.annotator")
    cluster.add_pod("shop", "writer")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000, since=60)
    cluster.start_prometheus()
    for status in (500, 409, 422, 503):
        cluster.kube.fail_next("PATCH", r"/pods/writer$", status)
    controller = cluster.run()
    wait_for(lambda: cluster.annotations("shop", "writer").get(WRITE_KEY) == "500", "the limit")

    patches = [r.status for r in cluster.kube.requests if r.method == "PATCH"]
    assert patches == [500, 409, 422, 503, 200]  # each retried, none lost, no extra
    assert controller.sample("iops_limit_kube_api_errors_total", {"operation": "patch"}) == 4
    assert controller.cycles("error") == 0
    delays = [float(d) for d in re.findall(r"retrying in ([0-9.]+)s", caplog.text)]
    assert len(delays) == 4
    assert delays == sorted(delays) and delays[0] < delays[-1]  # backing off, not hammering
    wait_for(lambda: cluster.events("IOPSLimitApplied"), "the Event")
    assert len(cluster.events("IOPSLimitApplied")) == 1


def test_a_pod_gone_at_patch_time_is_dropped_without_retries_or_a_failed_cycle(
    cluster: Cluster,
) -> None:
    for pod in ("gone", "writer"):
        cluster.add_pod("shop", pod)
        cluster.exporter.set_rates("shop", pod, "app", write_iops=3000, since=60)
    cluster.start_prometheus()
    # Deleted after the cache last saw it: the API answers 404 to every patch from now on.
    cluster.kube.fail_next("PATCH", r"/pods/gone$", 404, times=100)
    controller = cluster.run()
    wait_for(lambda: cluster.annotations("shop", "writer").get(WRITE_KEY), "the other limit")
    after = controller.cycles()
    wait_for(lambda: controller.cycles() >= after + 3, "three more cycles")

    gone = [r.status for r in cluster.kube.requests if r.path.endswith("/pods/gone")]
    assert gone == [404]  # one try, not retried in the cycle nor in the next ones
    assert controller.cycles("error") == 0
    assert controller.sample("iops_limit_kube_api_errors_total", {"operation": "patch"}) == 0
    assert [e["involvedObject"]["name"] for e in cluster.events("IOPSLimitApplied")] == ["writer"]


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
