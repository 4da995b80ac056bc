"""Patches on the fake Kubernetes API through the real client: merge, strategic merge and JSON
patch, resourceVersion preconditions, and the metadata checks every write goes through."""

import socket
from typing import Any

import pytest
import requests
from kubernetes.client import ApiException, CoreV1Api

from sandbox.fake_kube import FakeKube
from sandbox.fake_kube_errors import StatusError
from tests.sandbox.kube_reading import annotations, plain, status_of, version

MERGE = "application/merge-patch+json"


def test_merge_patch_sets_annotations_and_null_deletes_them(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    limit: dict[str, Any] = {"iops-limit/limit": "200", "keep": "me"}
    core.patch_namespaced_pod(
        "web", "shop", {"metadata": {"annotations": limit}}, _content_type=MERGE
    )
    limit = {"iops-limit/limit": None}
    core.patch_namespaced_pod(
        "web", "shop", {"metadata": {"annotations": limit}}, _content_type=MERGE
    )
    assert annotations(core) == {"keep": "me"}
    assert [(r.method, r.status) for r in kube_cluster.writes()] == [("PATCH", 200), ("PATCH", 200)]


def test_dict_patch_is_a_strategic_merge_that_keeps_other_annotations(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    core.patch_namespaced_pod("web", "shop", {"metadata": {"annotations": {"a": "1"}}})
    core.patch_namespaced_pod("web", "shop", {"metadata": {"annotations": {"b": "2"}}})
    core.patch_namespaced_pod("web", "shop", {"metadata": {"annotations": {"a": None}}})
    assert annotations(core) == {"b": "2"}


def test_strategic_merge_patch_merges_containers_by_name(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    pod = kube_cluster.make_pod(
        "shop",
        "two",
        "node-a",
        containers=[{"name": "app", "image": "app:1"}, {"name": "side", "image": "side:1"}],
    )
    kube_cluster.add_pod(pod)
    body = {"spec": {"containers": [{"name": "side", "image": "side:2"}]}}
    patched = plain(core.patch_namespaced_pod("two", "shop", body))
    assert [(c["name"], c["image"]) for c in patched["spec"]["containers"]] == [
        ("app", "app:1"),
        ("side", "side:2"),
    ]


def test_json_patch_adds_replaces_tests_and_removes_escaped_keys(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    key = "/metadata/annotations/iops-limit~1write-iops"
    add: list[dict[str, Any]] = [
        {"op": "add", "path": "/metadata/annotations", "value": {}},
        {"op": "add", "path": key, "value": "100"},
    ]
    core.patch_namespaced_pod("web", "shop", add)
    core.patch_namespaced_pod(
        "web",
        "shop",
        [
            {"op": "test", "path": key, "value": "100"},
            {"op": "replace", "path": key, "value": "50"},
        ],
    )
    assert annotations(core) == {"iops-limit/write-iops": "50"}
    core.patch_namespaced_pod("web", "shop", [{"op": "remove", "path": key}])
    assert "annotations" not in kube_cluster.get_pod("shop", "web")["metadata"]


def test_json_patch_into_a_missing_annotations_map_is_422_as_on_a_real_server(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    # Pods without annotations have no annotations map at all.
    assert "annotations" not in kube_cluster.get_pod("shop", "web")["metadata"]
    add = [{"op": "add", "path": "/metadata/annotations/iops-limit~1limit", "value": "1"}]
    with pytest.raises(ApiException) as raised:
        core.patch_namespaced_pod("web", "shop", add)
    assert raised.value.status == 422


def test_json_patch_with_a_failing_test_is_422_and_changes_nothing(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    before = version(core)
    operations = [
        {"op": "add", "path": "/metadata/annotations/x", "value": "1"},
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
    ]
    with pytest.raises(ApiException) as raised:
        core.patch_namespaced_pod("web", "shop", operations)
    assert raised.value.status == 422
    assert version(core) == before
    assert annotations(core) == {}


@pytest.mark.parametrize("content_type", [MERGE, None])
def test_resource_version_in_a_merge_patch_is_a_precondition(
    kube_cluster: FakeKube, core: CoreV1Api, content_type: str | None
) -> None:
    stale_version = version(core)
    kube_cluster.restart_container("shop", "web", "app")  # someone else changed the pod
    stale = {"metadata": {"resourceVersion": stale_version, "annotations": {"a": "1"}}}
    with pytest.raises(ApiException) as raised:
        core.patch_namespaced_pod("web", "shop", stale, _content_type=content_type)
    assert raised.value.status == 409
    assert status_of(raised.value)["reason"] == "Conflict"
    fresh = {"metadata": {"resourceVersion": version(core), "annotations": {"a": "1"}}}
    core.patch_namespaced_pod("web", "shop", fresh, _content_type=content_type)
    assert annotations(core) == {"a": "1"}


def test_patching_a_missing_pod_is_404_with_a_status_body(
    kube_api: FakeKube, core: CoreV1Api
) -> None:
    with pytest.raises(ApiException) as raised:
        core.patch_namespaced_pod("ghost", "shop", {"metadata": {"labels": {"a": "b"}}})
    assert raised.value.status == 404
    status = status_of(raised.value)
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 404, "NotFound")
    assert "ghost" in status["message"]


def test_a_patch_that_changes_nothing_keeps_the_resource_version(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    body = {"metadata": {"labels": {"app": "web"}}}
    before, global_before = version(core), kube_cluster.resource_version
    patched = plain(core.patch_namespaced_pod("web", "shop", body))
    assert patched["metadata"]["resource_version"] == before
    assert kube_cluster.resource_version == global_before


def test_an_unknown_patch_content_type_is_415(kube_cluster: FakeKube) -> None:
    # The client refuses to send such a body, so this goes around it.
    response = requests.patch(
        f"{kube_cluster.url}/api/v1/namespaces/shop/pods/web",
        data=b"{}",
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert response.status_code == 415
    assert response.json()["reason"] == "UnsupportedMediaType"


@pytest.mark.parametrize(
    ("metadata", "status"),
    [
        ({"annotations": {"iops-limit/read-iops": 100}}, 400),  # not a string
        ({"labels": {"app": ["web"]}}, 400),
        ({"labels": {"app": "not a label value"}}, 422),
        ({"labels": {"bad key!": "x"}}, 422),
        ({"annotations": {"-leading/dash": "x"}}, 422),
    ],
)
def test_metadata_the_real_server_refuses_is_refused_and_changes_nothing(
    kube_cluster: FakeKube, core: CoreV1Api, metadata: dict[str, Any], status: int
) -> None:
    before = version(core)
    with pytest.raises(ApiException) as raised:
        core.patch_namespaced_pod("web", "shop", {"metadata": metadata})
    assert raised.value.status == status
    assert version(core) == before


@pytest.mark.parametrize("name", ["Web", "web_1", "-web", "a" * 254])
def test_creating_an_object_with_an_invalid_name_is_422(kube_cluster: FakeKube, name: str) -> None:
    with pytest.raises(StatusError) as raised:
        kube_cluster.add_pod(kube_cluster.make_pod("shop", name, "node-a"))
    assert raised.value.code == 422
    assert "metadata.name" in raised.value.message


def test_a_body_of_another_kind_is_refused(kube_cluster: FakeKube) -> None:
    response = requests.post(
        f"{kube_cluster.url}/api/v1/namespaces/shop/pods",
        json={"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n"}},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["kind"] == "Status"


def test_the_status_subresource_patches_the_pod(kube_cluster: FakeKube, core: CoreV1Api) -> None:
    body = {"status": {"containerStatuses": [{"name": "app", "restartCount": 7}]}}
    patched = plain(core.patch_namespaced_pod_status("web", "shop", body))
    assert patched["status"]["container_statuses"][0]["restart_count"] == 7
    # Strategic merge keeps the rest of the named container's status.
    assert patched["status"]["container_statuses"][0]["container_id"].startswith("containerd://")


def test_a_body_that_is_not_json_is_400(kube_cluster: FakeKube) -> None:
    response = requests.patch(
        f"{kube_cluster.url}/api/v1/namespaces/shop/pods/web",
        data=b"{not json",
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert "not JSON" in response.json()["message"]


def test_a_bad_content_length_is_400(kube_cluster: FakeKube) -> None:
    port = int(kube_cluster.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(
            b"POST /api/v1/namespaces/shop/pods HTTP/1.1\r\nHost: fake\r\n"
            b"Content-Length: many\r\n\r\n"
        )
        assert connection.recv(4096).startswith(b"HTTP/1.1 400 ")
