"""Fault injection and the request log of the fake Kubernetes API, through the real client."""

import threading

import pytest
import urllib3
from kubernetes.client import ApiException, CoreV1Api
from kubernetes.watch import Watch

from sandbox.fake_kube import FakeKube
from tests.sandbox.kube_reading import annotations, plain, status_of


def test_fail_next_answers_the_planned_status_then_serves_again(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    kube_cluster.fail_next("PATCH", r"/pods/web$", 500, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as raised:
            core.patch_namespaced_pod("web", "shop", {"metadata": {"labels": {"a": "b"}}})
        assert raised.value.status == 500
    core.read_namespaced_pod("web", "shop")  # other methods were never affected
    core.patch_namespaced_pod("web", "shop", {"metadata": {"labels": {"a": "b"}}})
    assert [(r.method, r.status) for r in kube_cluster.writes()] == [
        ("PATCH", 500),
        ("PATCH", 500),
        ("PATCH", 200),
    ]


def test_a_failed_write_changes_nothing(kube_cluster: FakeKube, core: CoreV1Api) -> None:
    kube_cluster.fail_next("*", "/pods/", 409)
    with pytest.raises(ApiException) as raised:
        core.patch_namespaced_pod("web", "shop", {"metadata": {"annotations": {"a": "1"}}})
    assert raised.value.status == 409
    assert annotations(core) == {}


def test_an_injected_429_reaches_the_caller(kube_cluster: FakeKube, core: CoreV1Api) -> None:
    kube_cluster.fail_next("GET", "/pods", 429)
    with pytest.raises(ApiException) as raised:
        core.list_pod_for_all_namespaces()
    assert raised.value.status == 429
    assert status_of(raised.value)["reason"] == "TooManyRequests"


def test_the_request_log_records_method_path_query_and_status(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    kube_cluster.clear_requests()
    core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-a")
    with pytest.raises(ApiException):
        core.read_namespaced_pod("ghost", "shop")
    first, second = kube_cluster.requests
    assert (first.method, first.path, first.status) == ("GET", "/api/v1/pods", 200)
    assert first.query["fieldSelector"] == "spec.nodeName=node-a"
    assert (second.path, second.status) == ("/api/v1/namespaces/shop/pods/ghost", 404)
    assert kube_cluster.writes() == []


def test_set_delay_holds_matching_requests(kube_cluster: FakeKube, core: CoreV1Api) -> None:
    kube_cluster.set_delay(3.0, r"/pods/web$")
    # urllib3 retries the timed-out read, then gives up (MaxRetryError is an HTTPError too).
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.read_namespaced_pod("web", "shop", _request_timeout=0.5)
    kube_cluster.set_delay(0)
    assert plain(core.read_namespaced_pod("web", "shop", _request_timeout=10))["metadata"]


def test_an_injected_failure_on_a_watch_reaches_the_client(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    kube_cluster.fail_next("GET", "^/api/v1/pods$", 503)
    with pytest.raises(ApiException) as raised:
        list(Watch().stream(core.list_pod_for_all_namespaces, timeout_seconds=5))
    assert raised.value.status == 503


def test_concurrent_patches_from_one_resource_version_let_exactly_one_win(
    kube_cluster: FakeKube, kube_api: FakeKube
) -> None:
    stale = kube_cluster.get_pod("shop", "web")["metadata"]["resourceVersion"]
    statuses: list[int] = []

    def patch(index: int) -> None:
        with kube_api.api_client() as api:
            body = {"metadata": {"resourceVersion": stale, "labels": {"writer": str(index)}}}
            try:
                CoreV1Api(api).patch_namespaced_pod("web", "shop", body)
                statuses.append(200)
            except ApiException as error:
                statuses.append(int(error.status or 0))

    writers = [threading.Thread(target=patch, args=(index,)) for index in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(30)
    assert sorted(statuses) == [200] + [409] * 7
