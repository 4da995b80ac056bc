"""Fixtures the fake Kubernetes API's own tests share."""

from collections.abc import Iterator

import pytest
from kubernetes.client import CoordinationV1Api, CoreV1Api

from sandbox.fake_kube import FakeKube


@pytest.fixture
def core(kube_api: FakeKube) -> Iterator[CoreV1Api]:
    with kube_api.api_client() as api:
        yield CoreV1Api(api)


@pytest.fixture
def coordination(kube_api: FakeKube) -> Iterator[CoordinationV1Api]:
    with kube_api.api_client() as api:
        yield CoordinationV1Api(api)


@pytest.fixture
def kube_cluster(kube_api: FakeKube) -> FakeKube:
    """Two nodes, three pods in two namespaces."""
    kube_api.add_node("node-a")
    kube_api.add_node("node-b")
    kube_api.add_pod(kube_api.make_pod("shop", "web", "node-a", labels={"app": "web"}))
    kube_api.add_pod(
        kube_api.make_pod("shop", "db", "node-b", labels={"app": "db", "tier": "data"})
    )
    kube_api.add_pod(kube_api.make_pod("batch", "etl", "node-a", labels={"tier": "data"}))
    return kube_api
