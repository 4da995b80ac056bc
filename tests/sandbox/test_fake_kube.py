"""The fake Kubernetes API through the real client: pods, patches, events, leases, nodes,
fault injection, and the test-side state API. Watches: test_fake_kube_watch.py."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import requests
import urllib3
from kubernetes.client import ApiException, CoordinationV1Api, CoreV1Api, V1Lease, V1Pod

from iops_limit.kube import PodRef, load_api_client, post_event
from sandbox.fake_kube import FakeKube

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture
def core(kube_api: FakeKube) -> Iterator[CoreV1Api]:
    with kube_api.api_client() as api:
        yield CoreV1Api(api)


@pytest.fixture
def coordination(kube_api: FakeKube) -> Iterator[CoordinationV1Api]:
    with kube_api.api_client() as api:
        yield CoordinationV1Api(api)


@pytest.fixture
def cluster(kube_api: FakeKube) -> FakeKube:
    """Two nodes, three pods in two namespaces."""
    kube_api.add_node("node-a")
    kube_api.add_node("node-b")
    kube_api.add_pod(kube_api.make_pod("shop", "web", "node-a", labels={"app": "web"}))
    kube_api.add_pod(
        kube_api.make_pod("shop", "db", "node-b", labels={"app": "db", "tier": "data"})
    )
    kube_api.add_pod(kube_api.make_pod("batch", "etl", "node-a", labels={"tier": "data"}))
    return kube_api


def plain(model: Any) -> dict[str, Any]:
    """A client model as a dict (snake_case keys): the client parsed the server's JSON into
    it, and tests can index it without a None check per level."""
    result: dict[str, Any] = model.to_dict()
    return result


def as_pod(pod: dict[str, Any]) -> V1Pod:
    model = V1Pod.from_dict(pod)
    assert model is not None
    return model


def names(object_list: Any) -> list[str]:
    return sorted(item["metadata"]["name"] for item in plain(object_list)["items"])


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(str(error.body))
    return body


# -- pods: read -------------------------------------------------------------------------------


def test_list_all_namespaces_returns_every_pod_as_the_client_models_it(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    pods = core.list_pod_for_all_namespaces()
    assert names(pods) == ["db", "etl", "web"]
    assert plain(pods)["metadata"]["resource_version"] == cluster.resource_version
    web = next(pod for pod in plain(pods)["items"] if pod["metadata"]["name"] == "web")
    container_id = web["status"]["container_statuses"][0]["container_id"]
    assert container_id.startswith("containerd://")
    assert len(container_id.removeprefix("containerd://")) == 64
    assert web["status"]["qos_class"] == "Burstable"
    assert web["spec"]["node_name"] == "node-a"
    assert web["metadata"]["uid"]


def test_list_in_a_namespace_returns_only_its_pods(cluster: FakeKube, core: CoreV1Api) -> None:
    assert names(core.list_namespaced_pod("shop")) == ["db", "web"]
    assert names(core.list_namespaced_pod("nowhere")) == []


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("spec.nodeName=node-a", ["etl", "web"]),
        ("spec.nodeName==node-b", ["db"]),
        ("spec.nodeName!=node-a", ["db"]),
        ("metadata.name=web", ["web"]),
        ("metadata.namespace=batch", ["etl"]),
        ("spec.nodeName=node-a,metadata.namespace=shop", ["web"]),
    ],
)
def test_field_selector_filters_the_list(
    cluster: FakeKube, core: CoreV1Api, selector: str, expected: list[str]
) -> None:
    assert names(core.list_pod_for_all_namespaces(field_selector=selector)) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["web"]),
        ("app==db", ["db"]),
        ("app!=web", ["db", "etl"]),
        ("tier in (data,cache)", ["db", "etl"]),
        ("app notin (web)", ["db", "etl"]),
        ("app", ["db", "web"]),
        ("!app", ["etl"]),
        ("tier=data,app in (db)", ["db"]),
    ],
)
def test_label_selector_filters_with_equality_and_set_terms(
    cluster: FakeKube, core: CoreV1Api, selector: str, expected: list[str]
) -> None:
    assert names(core.list_pod_for_all_namespaces(label_selector=selector)) == expected


def test_unsupported_field_selector_is_a_400_naming_the_field(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    with pytest.raises(ApiException) as raised:
        core.list_pod_for_all_namespaces(field_selector="spec.hostname=x")
    assert raised.value.status == 400
    assert "spec.hostname" in status_of(raised.value)["message"]


def test_malformed_label_selector_is_a_400(cluster: FakeKube, core: CoreV1Api) -> None:
    with pytest.raises(ApiException) as raised:
        core.list_pod_for_all_namespaces(label_selector="app in web")
    assert raised.value.status == 400


def test_list_pages_with_limit_and_continue(cluster: FakeKube, core: CoreV1Api) -> None:
    first = plain(core.list_pod_for_all_namespaces(limit=2))
    assert len(first["items"]) == 2
    assert first["metadata"]["_continue"]
    rest = plain(
        core.list_pod_for_all_namespaces(limit=2, _continue=first["metadata"]["_continue"])
    )
    assert not rest["metadata"]["_continue"]
    # Namespace, then name order, like etcd keys.
    in_order = [pod["metadata"]["name"] for pod in first["items"] + rest["items"]]
    assert in_order == ["etl", "db", "web"]


def test_continue_token_from_before_a_compaction_is_410(cluster: FakeKube, core: CoreV1Api) -> None:
    token = plain(core.list_pod_for_all_namespaces(limit=1))["metadata"]["_continue"]
    cluster.add_pod(cluster.make_pod("shop", "late", "node-a"))
    cluster.compact()
    with pytest.raises(ApiException) as raised:
        core.list_pod_for_all_namespaces(limit=1, _continue=token)
    assert raised.value.status == 410


# -- pods: write ------------------------------------------------------------------------------


def test_create_get_and_delete_a_pod(kube_api: FakeKube, core: CoreV1Api) -> None:
    created = plain(
        core.create_namespaced_pod("shop", as_pod(kube_api.make_pod("shop", "new", "a")))
    )
    assert created["metadata"]["resource_version"] == kube_api.resource_version
    read = plain(core.read_namespaced_pod("new", "shop"))
    assert read["metadata"]["uid"] == created["metadata"]["uid"]
    core.delete_namespaced_pod("new", "shop")
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod("new", "shop")
    assert raised.value.status == 404
    assert status_of(raised.value)["reason"] == "NotFound"


def test_creating_an_existing_pod_is_409_already_exists(cluster: FakeKube, core: CoreV1Api) -> None:
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_pod("shop", as_pod(cluster.make_pod("shop", "web", "n")))
    assert raised.value.status == 409
    assert status_of(raised.value)["reason"] == "AlreadyExists"


def test_every_change_bumps_the_global_and_the_object_resource_version(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    before = int(cluster.resource_version)
    patched = plain(core.patch_namespaced_pod("web", "shop", {"metadata": {"labels": {"v": "2"}}}))
    assert int(patched["metadata"]["resource_version"]) == before + 1
    cluster.add_node("node-c")
    assert int(cluster.resource_version) == before + 2
    assert version(core) == str(before + 1)


# -- patches ----------------------------------------------------------------------------------


def web(core: CoreV1Api) -> dict[str, Any]:
    return plain(core.read_namespaced_pod("web", "shop"))


def annotations(core: CoreV1Api) -> dict[str, str]:
    result: dict[str, str] = web(core)["metadata"]["annotations"] or {}
    return result


def version(core: CoreV1Api) -> str:
    return str(web(core)["metadata"]["resource_version"])


def test_merge_patch_sets_annotations_and_null_deletes_them(
    cluster: FakeKube, core: CoreV1Api
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
    assert [(r.method, r.status) for r in cluster.writes()] == [("PATCH", 200), ("PATCH", 200)]


def test_dict_patch_is_a_strategic_merge_that_keeps_other_annotations(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    core.patch_namespaced_pod("web", "shop", {"metadata": {"annotations": {"a": "1"}}})
    core.patch_namespaced_pod("web", "shop", {"metadata": {"annotations": {"b": "2"}}})
    core.patch_namespaced_pod("web", "shop", {"metadata": {"annotations": {"a": None}}})
    assert annotations(core) == {"b": "2"}


def test_strategic_merge_patch_merges_containers_by_name(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    pod = cluster.make_pod(
        "shop",
        "two",
        "node-a",
        containers=[{"name": "app", "image": "app:1"}, {"name": "side", "image": "side:1"}],
    )
    cluster.add_pod(pod)
    body = {"spec": {"containers": [{"name": "side", "image": "side:2"}]}}
    patched = plain(core.patch_namespaced_pod("two", "shop", body))
    assert [(c["name"], c["image"]) for c in patched["spec"]["containers"]] == [
        ("app", "app:1"),
        ("side", "side:2"),
    ]


def test_json_patch_adds_replaces_tests_and_removes_escaped_keys(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    key = "/metadata/annotations/iops-limit~1write-iops"
    core.patch_namespaced_pod("web", "shop", [{"op": "add", "path": key, "value": "100"}])
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
    assert annotations(core) == {}


def test_json_patch_with_a_failing_test_is_422_and_changes_nothing(
    cluster: FakeKube, core: CoreV1Api
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
    cluster: FakeKube, core: CoreV1Api, content_type: str | None
) -> None:
    stale_version = version(core)
    cluster.restart_container("shop", "web", "app")  # someone else changed the pod
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
    cluster: FakeKube, core: CoreV1Api
) -> None:
    body = {"metadata": {"labels": {"app": "web"}}}
    before, global_before = version(core), cluster.resource_version
    patched = plain(core.patch_namespaced_pod("web", "shop", body))
    assert patched["metadata"]["resource_version"] == before
    assert cluster.resource_version == global_before


def test_an_unknown_patch_content_type_is_415(cluster: FakeKube) -> None:
    # The client refuses to send such a body, so this goes around it.
    response = requests.patch(
        f"{cluster.url}/api/v1/namespaces/shop/pods/web",
        data=b"{}",
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert response.status_code == 415
    assert response.json()["reason"] == "UnsupportedMediaType"


# -- events, leases, nodes --------------------------------------------------------------------


def test_events_posted_through_the_client_are_listed_and_readable_by_the_test(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    uid = cluster.get_pod("shop", "web")["metadata"]["uid"]
    post_event(core, PodRef("shop", "web", uid), "IOLimited", "limited to 200", component="t")
    post_event(core, PodRef("batch", "etl", "u2"), "IOReleased", "released", component="t")
    [event] = cluster.events("shop")
    assert (event["reason"], event["involvedObject"]["uid"]) == ("IOLimited", uid)
    assert [e["reason"] for e in cluster.events()] == ["IOLimited", "IOReleased"]
    listed = core.list_namespaced_event("shop", field_selector="involvedObject.name=web")
    assert [event["message"] for event in plain(listed)["items"]] == ["limited to 200"]


def holder(lease: V1Lease, identity: str) -> V1Lease:
    assert lease.spec is not None
    lease.spec.holder_identity = identity
    return lease


def lease(name: str, holder: str) -> kubernetes.client.V1Lease:
    return kubernetes.client.V1Lease(
        metadata=kubernetes.client.V1ObjectMeta(name=name),
        spec=kubernetes.client.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=15),
    )


def test_lease_replace_with_a_stale_resource_version_is_409(
    kube_api: FakeKube, coordination: CoordinationV1Api
) -> None:
    created = coordination.create_namespaced_lease("iops", lease("leader", "a"))
    mine = coordination.read_namespaced_lease("leader", "iops")
    coordination.replace_namespaced_lease("leader", "iops", holder(mine, "b"))
    with pytest.raises(ApiException) as raised:  # created is still at the first version
        coordination.replace_namespaced_lease("leader", "iops", holder(created, "c"))
    assert raised.value.status == 409
    assert kube_api.get_lease("iops", "leader")["spec"]["holderIdentity"] == "b"


def test_lease_create_twice_is_409_and_patch_updates_it(
    kube_api: FakeKube, coordination: CoordinationV1Api
) -> None:
    coordination.create_namespaced_lease("iops", lease("leader", "a"))
    with pytest.raises(ApiException) as raised:
        coordination.create_namespaced_lease("iops", lease("leader", "b"))
    assert raised.value.status == 409
    coordination.patch_namespaced_lease("leader", "iops", {"spec": {"holderIdentity": "z"}})
    read = plain(coordination.read_namespaced_lease("leader", "iops"))
    assert read["spec"]["holder_identity"] == "z"


def test_nodes_are_listed_and_read(cluster: FakeKube, core: CoreV1Api) -> None:
    assert names(core.list_node()) == ["node-a", "node-b"]
    node = plain(core.read_node("node-b"))
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-b"
    assert node["status"]["node_info"]["container_runtime_version"].startswith("containerd://")


# -- fault injection and the request log ------------------------------------------------------


def test_fail_next_answers_the_planned_status_then_serves_again(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    cluster.fail_next("PATCH", r"/pods/web$", 500, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as raised:
            core.patch_namespaced_pod("web", "shop", {"metadata": {"labels": {"a": "b"}}})
        assert raised.value.status == 500
    core.read_namespaced_pod("web", "shop")  # other methods were never affected
    core.patch_namespaced_pod("web", "shop", {"metadata": {"labels": {"a": "b"}}})
    assert [(r.method, r.status) for r in cluster.writes()] == [
        ("PATCH", 500),
        ("PATCH", 500),
        ("PATCH", 200),
    ]


def test_a_failed_write_changes_nothing(cluster: FakeKube, core: CoreV1Api) -> None:
    cluster.fail_next("*", "/pods/", 409)
    with pytest.raises(ApiException) as raised:
        core.patch_namespaced_pod("web", "shop", {"metadata": {"annotations": {"a": "1"}}})
    assert raised.value.status == 409
    assert annotations(core) == {}


def test_an_injected_429_reaches_the_caller(cluster: FakeKube, core: CoreV1Api) -> None:
    cluster.fail_next("GET", "/pods", 429)
    with pytest.raises(ApiException) as raised:
        core.list_pod_for_all_namespaces()
    assert raised.value.status == 429
    assert status_of(raised.value)["reason"] == "TooManyRequests"


def test_the_request_log_records_method_path_query_and_status(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    cluster.clear_requests()
    core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-a")
    with pytest.raises(ApiException):
        core.read_namespaced_pod("ghost", "shop")
    first, second = cluster.requests
    assert (first.method, first.path, first.status) == ("GET", "/api/v1/pods", 200)
    assert first.query["fieldSelector"] == "spec.nodeName=node-a"
    assert (second.path, second.status) == ("/api/v1/namespaces/shop/pods/ghost", 404)
    assert cluster.writes() == []


def test_set_delay_holds_matching_requests(cluster: FakeKube, core: CoreV1Api) -> None:
    cluster.set_delay(3.0, r"/pods/web$")
    # urllib3 retries the timed-out read, then gives up (MaxRetryError is an HTTPError too).
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.read_namespaced_pod("web", "shop", _request_timeout=0.5)
    cluster.set_delay(0)
    assert plain(core.read_namespaced_pod("web", "shop", _request_timeout=10))["metadata"]


# -- the test-side state API and kubeconfig ---------------------------------------------------


def test_restart_container_gives_a_new_container_id_seen_by_the_client(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    old = web(core)["status"]["container_statuses"][0]
    new_id = cluster.restart_container("shop", "web", "app")
    new = web(core)["status"]["container_statuses"][0]
    assert new["container_id"] == new_id != old["container_id"]
    assert new["restart_count"] == old["restart_count"] + 1


def test_update_pod_replaces_the_stored_pod_whatever_its_version(
    cluster: FakeKube, core: CoreV1Api
) -> None:
    pod = cluster.get_pod("shop", "web")
    core.patch_namespaced_pod("web", "shop", {"metadata": {"labels": {"x": "1"}}})
    pod["metadata"]["annotations"] = {"set": "by-test"}
    cluster.update_pod(pod)
    assert annotations(core) == {"set": "by-test"}
    assert "x" not in web(core)["metadata"]["labels"]


def test_make_pod_takes_given_container_ids_and_qos(kube_api: FakeKube) -> None:
    pod = kube_api.make_pod(
        "ns", "p", "n", qos="Guaranteed", container_ids={"app": "ab" * 32}, uid="u-1"
    )
    assert pod["status"]["containerStatuses"][0]["containerID"] == "containerd://" + "ab" * 32
    assert pod["status"]["qosClass"] == "Guaranteed"
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["requests"] == resources["limits"]
    assert pod["metadata"]["uid"] == "u-1"
    with pytest.raises(ValueError, match="qos"):
        kube_api.make_pod("ns", "p", "n", qos="Gold")
    with pytest.raises(ValueError, match="sidecar"):
        kube_api.make_pod("ns", "p", "n", container_ids={"sidecar": "ab" * 32})


def test_kubeconfig_works_with_the_project_client_loader(
    cluster: FakeKube, kubeconfig: Path
) -> None:
    with load_api_client(str(kubeconfig)) as api:
        assert names(CoreV1Api(api).list_namespaced_pod("batch")) == ["etl"]


def test_stop_refuses_new_connections(kube_api: FakeKube) -> None:
    with kube_api.api_client() as api:
        core = CoreV1Api(api)
        core.list_node()
        kube_api.stop()
        with pytest.raises(urllib3.exceptions.MaxRetryError):
            core.list_node(_request_timeout=5)
