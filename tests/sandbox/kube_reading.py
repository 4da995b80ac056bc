"""Reading the real client's answers in the fake Kubernetes API's tests."""

import json
from typing import Any

from kubernetes.client import ApiException, CoreV1Api, V1Pod


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


def web(core: CoreV1Api) -> dict[str, Any]:
    """The ``shop/web`` pod of the ``kube_cluster`` fixture, as the client read it."""
    return plain(core.read_namespaced_pod("web", "shop"))


def annotations(core: CoreV1Api) -> dict[str, str]:
    result: dict[str, str] = web(core)["metadata"]["annotations"] or {}
    return result


def version(core: CoreV1Api) -> str:
    return str(web(core)["metadata"]["resource_version"])
