"""What the running controller asks of the API server, recorded by the fake server, is exactly
what controller/kubeapi.py's OPERATIONS declares (which the RBAC manifest must grant)."""

import re

from controller.kubeapi import OPERATIONS
from sandbox.fake_kube_faults import RequestRecord
from tests.fixtures.controller import Cluster, wait_for

_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)"
    r"(?:/namespaces/[^/]+)?/(?P<resource>[^/]+)(?P<name>/[^/]+)?$"
)
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def rbac_request(record: RequestRecord) -> tuple[str, str, str]:
    """(verb, API group, resource) as the API server's authorizer sees the request."""
    match = _PATH.match(record.path)
    assert match, f"unexpected path {record.path}"
    if record.method == "GET":
        named = match.group("name") is not None
        verb = "get" if named else "watch" if record.query.get("watch") == "true" else "list"
    else:
        verb = _VERBS[record.method]
    return verb, match.group("group") or "", match.group("resource")


def test_a_limiting_leader_uses_exactly_the_declared_operations(cluster: Cluster) -> None:
    cluster.add_pod("shop", "writer")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000, since=60)
    cluster.start_prometheus()
    controller = cluster.run(leader_elect=True)
    wait_for(lambda: cluster.events("IOPSLimitApplied"), "the limit and its Event")
    controller.stop()  # gives the Lease up: an update

    used = {rbac_request(record) for record in cluster.kube.requests}
    assert used == set(OPERATIONS.values())
