"""The controller's API wrapper against the fake API through the real client: every failed
call is reported under its operation."""

import kubernetes
import pytest

from controller.kubeapi import KubeApi
from controller.ratelimit import TokenBucket
from iops_limit.kube import Expired, KubeError, NotFound, PodRef, Unavailable
from sandbox.fake_kube import FakeKube


@pytest.fixture
def failed() -> list[str]:
    return []


@pytest.fixture
def api(kube_api: FakeKube, failed: list[str]) -> KubeApi:
    kube_api.add_pod(kube_api.make_pod("shop", "web", "node-a"))
    return KubeApi(kube_api.api_client(), TokenBucket(100, 100), on_error=failed.append)


def test_successful_calls_report_nothing(api: KubeApi, failed: list[str]) -> None:
    pods, version = api.list_pods(lambda pod: pod["metadata"]["name"])
    assert pods == ["web"]
    api.patch_pod_annotations("shop", "web", {"iops-limit/limit": "100"})
    api.event(PodRef("shop", "web", "uid"), "Tested", "fine")
    for _ in api.watch_pods(version, 1):
        pass
    assert failed == []


def test_each_failed_pod_call_is_reported_by_operation(
    api: KubeApi, kube_api: FakeKube, failed: list[str]
) -> None:
    kube_api.fail_next("GET", r"/api/v1/pods$", 503)
    with pytest.raises(Unavailable):
        api.list_pods(dict)
    kube_api.fail_next("PATCH", r"/pods/web$", 500)
    with pytest.raises(Unavailable):
        api.patch_pod_annotations("shop", "web", {"iops-limit/limit": "100"})
    kube_api.fail_next("POST", r"/events$", 500)
    api.event(PodRef("shop", "web", "uid"), "Tested", "refused")  # advisory: not raised
    assert failed == ["list", "patch", "event"]


def test_a_404_is_an_answer_not_a_failed_call(
    api: KubeApi, kube_api: FakeKube, failed: list[str]
) -> None:
    with pytest.raises(NotFound):
        api.patch_pod_annotations("shop", "gone", {"iops-limit/limit": "100"})
    with pytest.raises(NotFound):
        api.read_lease("iops-limit", "iops-controller")
    assert failed == []


def test_a_watch_refused_or_broken_midway_is_reported(
    api: KubeApi, kube_api: FakeKube, failed: list[str]
) -> None:
    kube_api.fail_next("GET", r"/api/v1/pods$", 500)
    with pytest.raises(Unavailable):
        api.watch_pods("1", 5)
    old = kube_api.compact()  # everything before is compacted: the watch gets 410 Gone
    with pytest.raises(Expired):
        list(api.watch_pods(str(int(old) - 1), 5))
    assert failed == ["watch", "watch"]


def test_failed_lease_calls_are_reported_by_operation(
    api: KubeApi, kube_api: FakeKube, failed: list[str]
) -> None:
    kube_api.fail_next("GET", r"/leases/iops-controller$", 500)
    with pytest.raises(KubeError):
        api.read_lease("iops-limit", "iops-controller")
    body = kubernetes.client.V1Lease(
        metadata=kubernetes.client.V1ObjectMeta(name="iops-controller", namespace="iops-limit")
    )
    kube_api.fail_next("POST", r"/leases$", 500)
    with pytest.raises(KubeError):
        api.create_lease("iops-limit", body)
    api.create_lease("iops-limit", body)
    lease = api.read_lease("iops-limit", "iops-controller")
    kube_api.fail_next("PUT", r"/leases/iops-controller$", 409)
    with pytest.raises(KubeError):
        api.replace_lease("iops-limit", "iops-controller", lease)
    assert failed == ["lease_get", "lease_create", "lease_update"]
