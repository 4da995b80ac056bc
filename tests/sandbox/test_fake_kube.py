"""The fake Kubernetes API through the real client: pods, events, leases, nodes, and the
test-side state API. Patches, faults, watches and the process: the other test_fake_kube_*."""

from pathlib import Path
from typing import Any

import kubernetes
import pytest
import urllib3
from kubernetes.client import (
    ApiException,
    CoordinationV1Api,
    CoreV1Api,
    V1DeleteOptions,
    V1Lease,
    V1Preconditions,
)

from iops_limit.kube import PodRef, load_api_client, post_event
from sandbox.fake_kube import FakeKube
from tests.sandbox.kube_reading import annotations, as_pod, names, plain, status_of, version, web

# -- pods: read -------------------------------------------------------------------------------


def test_list_all_namespaces_returns_every_pod_as_the_client_models_it(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    pods = core.list_pod_for_all_namespaces()
    assert names(pods) == ["db", "etl", "web"]
    assert plain(pods)["metadata"]["resource_version"] == kube_cluster.resource_version
    web = next(pod for pod in plain(pods)["items"] if pod["metadata"]["name"] == "web")
    container_id = web["status"]["container_statuses"][0]["container_id"]
    assert container_id.startswith("containerd://")
    assert len(container_id.removeprefix("containerd://")) == 64
    assert web["status"]["qos_class"] == "Burstable"
    assert web["spec"]["node_name"] == "node-a"
    assert web["metadata"]["uid"]


def test_list_in_a_namespace_returns_only_its_pods(kube_cluster: FakeKube, core: CoreV1Api) -> None:
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
    kube_cluster: FakeKube, core: CoreV1Api, selector: str, expected: list[str]
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
    kube_cluster: FakeKube, core: CoreV1Api, selector: str, expected: list[str]
) -> None:
    assert names(core.list_pod_for_all_namespaces(label_selector=selector)) == expected


def test_unsupported_field_selector_is_a_400_naming_the_field(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    with pytest.raises(ApiException) as raised:
        core.list_pod_for_all_namespaces(field_selector="spec.hostname=x")
    assert raised.value.status == 400
    assert "spec.hostname" in status_of(raised.value)["message"]


def test_malformed_label_selector_is_a_400(kube_cluster: FakeKube, core: CoreV1Api) -> None:
    with pytest.raises(ApiException) as raised:
        core.list_pod_for_all_namespaces(label_selector="app in web")
    assert raised.value.status == 400


def test_list_pages_with_limit_and_continue(kube_cluster: FakeKube, core: CoreV1Api) -> None:
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


def test_pages_in_a_namespace_or_with_a_selector_add_up_to_the_whole_list(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    for index in range(5):
        tier = "web" if index % 2 else "batch"
        kube_cluster.add_pod(
            kube_cluster.make_pod("shop", f"p{index}", "node-a", labels={"tier": tier})
        )
    for query in ({"namespace": "shop"}, {"label_selector": "tier=web"}):
        whole = names(list_pods(core, **query))
        paged, token, counts = [], None, []
        while True:
            page = plain(list_pods(core, limit=1, _continue=token, **query))
            paged += [pod["metadata"]["name"] for pod in page["items"]]
            counts.append(page["metadata"]["remaining_item_count"])
            token = page["metadata"]["_continue"]
            if not token:
                break
        assert sorted(paged) == whole and len(paged) >= 2
        assert counts[0] == len(whole) - 1 and counts[-1] is None


def list_pods(core: CoreV1Api, namespace: str | None = None, **query: Any) -> Any:
    if namespace is None:
        return core.list_pod_for_all_namespaces(**query)
    return core.list_namespaced_pod(namespace, **query)


def test_continue_token_from_before_a_compaction_is_410(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    token = plain(core.list_pod_for_all_namespaces(limit=1))["metadata"]["_continue"]
    kube_cluster.add_pod(kube_cluster.make_pod("shop", "late", "node-a"))
    kube_cluster.compact()
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


def test_creating_an_existing_pod_is_409_already_exists(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_pod("shop", as_pod(kube_cluster.make_pod("shop", "web", "n")))
    assert raised.value.status == 409
    assert status_of(raised.value)["reason"] == "AlreadyExists"


def test_every_change_bumps_the_global_and_the_object_resource_version(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    before = int(kube_cluster.resource_version)
    patched = plain(core.patch_namespaced_pod("web", "shop", {"metadata": {"labels": {"v": "2"}}}))
    assert int(patched["metadata"]["resource_version"]) == before + 1
    kube_cluster.add_node("node-c")
    assert int(kube_cluster.resource_version) == before + 2
    assert version(core) == str(before + 1)


# -- events, leases, nodes --------------------------------------------------------------------


def test_events_posted_through_the_client_are_listed_and_readable_by_the_test(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    uid = kube_cluster.get_pod("shop", "web")["metadata"]["uid"]
    post_event(core, PodRef("shop", "web", uid), "IOLimited", "limited to 200", component="t")
    post_event(core, PodRef("batch", "etl", "u2"), "IOReleased", "released", component="t")
    [event] = kube_cluster.events("shop")
    assert (event["reason"], event["involvedObject"]["uid"]) == ("IOLimited", uid)
    assert [e["reason"] for e in kube_cluster.events()] == ["IOLimited", "IOReleased"]
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


def test_nodes_are_listed_and_read(kube_cluster: FakeKube, core: CoreV1Api) -> None:
    assert names(core.list_node()) == ["node-a", "node-b"]
    node = plain(core.read_node("node-b"))
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-b"
    assert node["status"]["node_info"]["container_runtime_version"].startswith("containerd://")


# -- the test-side state API and kubeconfig ---------------------------------------------------


def test_restart_container_gives_a_new_container_id_seen_by_the_client(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    old = web(core)["status"]["container_statuses"][0]
    new_id = kube_cluster.restart_container("shop", "web", "app")
    new = web(core)["status"]["container_statuses"][0]
    assert new["container_id"] == new_id != old["container_id"]
    assert new["restart_count"] == old["restart_count"] + 1


def test_update_pod_replaces_the_stored_pod_whatever_its_version(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    pod = kube_cluster.get_pod("shop", "web")
    core.patch_namespaced_pod("web", "shop", {"metadata": {"labels": {"x": "1"}}})
    pod["metadata"]["annotations"] = {"set": "by-test"}
    kube_cluster.update_pod(pod)
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
    kube_cluster: FakeKube, kubeconfig: Path
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


def test_delete_with_a_stale_resource_version_precondition_is_409(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    stale = version(core)
    kube_cluster.restart_container("shop", "web", "app")
    options = V1DeleteOptions(preconditions=V1Preconditions(resource_version=stale))
    with pytest.raises(ApiException) as raised:
        core.delete_namespaced_pod("web", "shop", body=options)
    assert raised.value.status == 409
    options = V1DeleteOptions(preconditions=V1Preconditions(resource_version=version(core)))
    core.delete_namespaced_pod("web", "shop", body=options)
    assert [pod["metadata"]["name"] for pod in kube_cluster.pods("shop")] == ["db"]


def test_label_selectors_take_prefixed_keys(kube_api: FakeKube, core: CoreV1Api) -> None:
    labels = {"app.kubernetes.io/name": "web", "team": "a"}
    kube_api.add_pod(kube_api.make_pod("shop", "prefixed", "node-a", labels=labels))
    kube_api.add_pod(kube_api.make_pod("shop", "plain", "node-a", labels={"team": "a"}))
    selected = core.list_namespaced_pod("shop", label_selector="app.kubernetes.io/name in (web)")
    assert names(selected) == ["prefixed"]
    selected = core.list_namespaced_pod("shop", label_selector="!app.kubernetes.io/name,team=a")
    assert names(selected) == ["plain"]


def test_update_pod_keeps_no_reference_to_the_callers_dict(kube_cluster: FakeKube) -> None:
    pod = kube_cluster.get_pod("shop", "web")
    kube_cluster.update_pod(pod)
    pod["status"]["phase"] = "Failed"
    assert kube_cluster.get_pod("shop", "web")["status"]["phase"] == "Running"


def test_a_pending_pod_has_no_container_id_yet(kube_api: FakeKube, core: CoreV1Api) -> None:
    kube_api.add_pod(kube_api.make_pod("shop", "starting", "node-a", phase="Pending"))
    pod = plain(core.read_namespaced_pod("starting", "shop"))
    [status] = pod["status"]["container_statuses"]
    assert status["container_id"] is None
    assert status["state"]["waiting"]["reason"] == "ContainerCreating"
    assert pod["status"]["phase"] == "Pending"


def test_a_finished_pod_reports_terminated_containers(kube_api: FakeKube) -> None:
    done = kube_api.make_pod("shop", "done", "node-a", phase="Succeeded")
    failed = kube_api.make_pod("shop", "failed", "node-a", phase="Failed")
    for pod, exit_code in ((done, 0), (failed, 1)):
        [status] = pod["status"]["containerStatuses"]
        assert status["state"]["terminated"]["exitCode"] == exit_code
        assert status["state"]["terminated"]["containerID"] == status["containerID"]
    with pytest.raises(ValueError, match="phase"):
        kube_api.make_pod("shop", "p", "node-a", phase="Unknown")


def test_a_restarted_container_keeps_the_old_one_in_last_state(kube_cluster: FakeKube) -> None:
    [old] = kube_cluster.get_pod("shop", "web")["status"]["containerStatuses"]
    kube_cluster.restart_container("shop", "web", "app")
    [new] = kube_cluster.get_pod("shop", "web")["status"]["containerStatuses"]
    assert new["lastState"]["terminated"]["containerID"] == old["containerID"]


def test_create_with_generate_name_picks_a_name(kube_api: FakeKube, core: CoreV1Api) -> None:
    pod = kube_api.make_pod("shop", "unused", "node-a")
    del pod["metadata"]["name"]
    pod["metadata"]["generateName"] = "worker-"
    created = plain(core.create_namespaced_pod("shop", as_pod(pod)))
    assert created["metadata"]["name"].startswith("worker-")
    assert kube_api.get_pod("shop", created["metadata"]["name"])["metadata"]["uid"]
