"""The fake API's managedFields for annotations, through the real client."""

import kubernetes

from sandbox.fake_kube import FakeKube
from sandbox.fake_kube_managed import annotation_keys


def patch(kube: FakeKube, manager: str, annotations: dict[str, str | None]) -> None:
    kubernetes.client.CoreV1Api(kube.api_client()).patch_namespaced_pod(
        "web",
        "shop",
        {"metadata": {"annotations": annotations}},
        field_manager=manager,
        _content_type="application/merge-patch+json",
    )


def owners(kube: FakeKube) -> dict[str, set[str]]:
    entries = kube.get_pod("shop", "web")["metadata"].get("managedFields") or []
    return {entry["manager"]: annotation_keys(entry) for entry in entries}


def test_a_key_belongs_to_the_manager_that_last_set_it_and_leaves_when_removed(
    kube_api: FakeKube,
) -> None:
    kube_api.add_pod(kube_api.make_pod("shop", "web", "node-a"))
    patch(kube_api, "iops-controller", {"a/x": "1", "a/y": "1"})
    assert owners(kube_api) == {"iops-controller": {"a/x", "a/y"}}
    patch(kube_api, "kubectl-annotate", {"a/x": "2"})
    assert owners(kube_api) == {"iops-controller": {"a/y"}, "kubectl-annotate": {"a/x"}}
    patch(kube_api, "iops-controller", {"a/y": None})
    assert owners(kube_api) == {"kubectl-annotate": {"a/x"}}  # an empty entry is dropped


def test_a_write_that_changes_nothing_is_still_not_written(kube_api: FakeKube) -> None:
    kube_api.add_pod(kube_api.make_pod("shop", "web", "node-a"))
    patch(kube_api, "kubectl-annotate", {"a/x": "1"})
    version = kube_api.get_pod("shop", "web")["metadata"]["resourceVersion"]
    patch(kube_api, "iops-controller", {"a/x": "1"})
    assert kube_api.get_pod("shop", "web")["metadata"]["resourceVersion"] == version
    assert owners(kube_api) == {"kubectl-annotate": {"a/x"}}


def test_without_a_field_manager_the_client_is_named_by_its_user_agent(
    kube_api: FakeKube,
) -> None:
    kube_api.add_pod(kube_api.make_pod("shop", "web", "node-a"))
    kubernetes.client.CoreV1Api(kube_api.api_client()).patch_namespaced_pod(
        "web", "shop", {"metadata": {"annotations": {"a/x": "1"}}}
    )
    assert owners(kube_api) == {"OpenAPI-Generator": {"a/x"}}
