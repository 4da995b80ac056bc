"""The node writer's three Kubernetes calls, as JSON, through the client's ``ApiClient``.

Not through ``CoreV1Api``: importing it loads about 250 model modules (some 22 MiB, a third of
the writer's memory budget on every node), and turning hundreds of pods into model objects
costs more CPU than the rest of the writer. Authentication, TLS and configuration are still the
kubernetes client's; errors become :mod:`iops_limit.kube`'s classes.
"""

import datetime
import json
import logging
import uuid
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from iops_limit import kube

log = logging.getLogger(__name__)

_JSON = {"Accept": "application/json", "Content-Type": "application/json"}


def node_pods(node_name: str) -> str:
    """The field selector of the pods scheduled to ``node_name``."""
    return f"spec.nodeName={node_name}"


class NodeApi:
    def __init__(self, api_client: kubernetes.client.ApiClient, component: str, host: str) -> None:
        self._client = api_client
        self._component = component
        self._host = host

    def list_pods(self, field_selector: str) -> dict[str, Any]:
        response = self._request(
            "list pods", "GET", "/api/v1/pods", [("fieldSelector", field_selector)], timeout=60
        )
        try:
            return dict(json.loads(response.data))
        except ValueError as error:
            raise kube.Unavailable(f"list pods: unreadable answer: {error}") from None
        finally:
            finish(response)

    def watch_pods(
        self, field_selector: str, resource_version: str, timeout_seconds: int
    ) -> urllib3.BaseHTTPResponse:
        """The open watch response; read it as JSON lines, then :func:`abandon` it."""
        query = [
            ("fieldSelector", field_selector),
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        return self._request(
            "watch pods", "GET", "/api/v1/pods", query, timeout=timeout_seconds + 30
        )

    def post_event(
        self, pod: kube.PodRef, reason: str, message: str, *, warning: bool = False
    ) -> None:
        """Record a core/v1 Event on the pod; failure is logged, never raised."""
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{pod.name}.{uuid.uuid4().hex[:16]}", "namespace": pod.namespace},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod.name,
                "namespace": pod.namespace,
                "uid": pod.uid,
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": self._component, "host": self._host},
            "reportingComponent": self._component,
            "reportingInstance": self._host,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        what = f"create Event {reason} on {pod.namespace}/{pod.name}"
        try:
            path = f"/api/v1/namespaces/{pod.namespace}/events"
            finish(self._request(what, "POST", path, [], body=body, timeout=10))
        except kube.KubeError as error:
            log.warning("could not record Event: %s", error)

    def _request(
        self,
        what: str,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        *,
        timeout: float,
        body: dict[str, Any] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        try:
            method, url, headers, payload, _ = self._client.param_serialize(
                method,
                path,
                query_params=query,
                header_params=dict(_JSON),
                body=body,
                auth_settings=["BearerToken"],
            )
            answer = self._client.call_api(
                method, url, header_params=headers, body=payload, _request_timeout=(10, timeout)
            )
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            raise kube.translate(error, what) from error
        response: urllib3.BaseHTTPResponse = answer.response
        if response.status >= 400:
            detail = response.data[:200].decode("utf-8", "replace")
            finish(response)
            raise kube.translate(ApiException(status=response.status, reason=detail), what)
        return response


def finish(response: urllib3.BaseHTTPResponse) -> None:
    """Read what is left and hand the connection back: an unread body would poison the next
    request on that pooled connection."""
    response.drain_conn()
    response.release_conn()


def abandon(response: urllib3.BaseHTTPResponse) -> None:
    """Close a response that may still be streaming (a watch), so its connection is not reused."""
    response.close()
    response.release_conn()
