"""The controller's calls to the Kubernetes API, each one through a client-side token bucket.

Pods travel as plain JSON dicts (``_preload_content=False``): turning 100k pods into the
client's model objects costs more than the rest of a cycle, and we read a handful of fields.
Errors arrive as :mod:`iops_limit.kube` classes (NotFound, Conflict, Expired, Unavailable),
and each failed call is reported to ``on_error`` with its operation (a key of
:data:`OPERATIONS`, the metric label of ``iops_limit_kube_api_errors_total``).
"""

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import kubernetes
import urllib3
from kubernetes.watch.watch import iter_resp_lines

from controller.ratelimit import TokenBucket
from iops_limit.kube import Expired, KubeError, NotFound, PodRef, call, post_event

log = logging.getLogger(__name__)

COMPONENT = "iops-controller"
MERGE_PATCH = "application/merge-patch+json"
LIST_PAGE_SIZE = 500  # client-go's default page

T = TypeVar("T")

#: Every call this module makes: operation -> (RBAC verb, API group, resource). The RBAC in
#: deploy/controller-rbac.yaml must grant exactly these; a test holds the two together and
#: checks that the requests the API server sees are all listed here.
OPERATIONS: dict[str, tuple[str, str, str]] = {
    "list": ("list", "", "pods"),
    "watch": ("watch", "", "pods"),
    "patch": ("patch", "", "pods"),
    "event": ("create", "", "events"),
    "lease_get": ("get", "coordination.k8s.io", "leases"),
    "lease_create": ("create", "coordination.k8s.io", "leases"),
    "lease_update": ("update", "coordination.k8s.io", "leases"),
}


class KubeApi:
    """Pods, Events and Leases for the controller, rate-limited like client-go (QPS + burst)."""

    def __init__(
        self,
        client: kubernetes.client.ApiClient,
        bucket: TokenBucket,
        list_page_size: int = LIST_PAGE_SIZE,
        on_error: Callable[[str], None] = lambda _operation: None,
        instance: str = COMPONENT,
    ) -> None:
        self._instance = instance  # Events name this replica (its pod) as reportingInstance
        self._page_size = list_page_size
        self._on_error = on_error
        self._core = kubernetes.client.CoreV1Api(client)
        self._coordination = kubernetes.client.CoordinationV1Api(client)
        self._bucket = bucket

    def list_pods(self, convert: Callable[[dict[str, Any]], T]) -> tuple[list[T], str]:
        """Every pod, page by page, each passed through ``convert`` as its page arrives (so
        only one page of raw JSON is alive at a time); returns them and the resourceVersion."""
        pods: list[T] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": self._page_size, "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            response: Any = self._call(
                "list", "list pods", self._core.list_pod_for_all_namespaces, **kwargs
            )
            page = json.loads(response.data)
            pods.extend(convert(pod) for pod in page.get("items") or [])
            metadata = page.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                return pods, str(metadata.get("resourceVersion") or "")

    def watch_pods(self, resource_version: str, timeout_seconds: int) -> Iterator[dict[str, Any]]:
        """Open a watch after ``resource_version`` (the request is made here, so a caller knows
        the watch is up once this returns) and return its events as dicts; iterating raises
        Expired on 410 Gone."""
        response: Any = self._call(
            "watch",
            "watch pods",
            self._core.list_pod_for_all_namespaces,
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _preload_content=False,
            _request_timeout=(10, timeout_seconds + 30),
        )
        return self._watch_events(response)

    def _watch_events(self, response: Any) -> Iterator[dict[str, Any]]:
        try:
            yield from _watch_events(response)
        except KubeError:
            self._on_error("watch")
            raise

    def patch_pod_annotations(
        self, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """A JSON merge patch of annotations (None deletes a key); returns the patched pod."""
        body = {"metadata": {"annotations": dict(annotations)}}
        response: Any = self._call(
            "patch",
            f"patch pod {namespace}/{name}",
            self._core.patch_namespaced_pod,
            name,
            namespace,
            body,
            # managedFields then name us as the writer of these keys (``watch`` reads that).
            field_manager=COMPONENT,
            _content_type=MERGE_PATCH,
            _preload_content=False,
        )
        pod: dict[str, Any] = json.loads(response.data)
        return pod

    def event(self, pod: PodRef, reason: str, message: str, *, warning: bool = False) -> None:
        self._bucket.acquire()
        recorded = post_event(
            self._core,
            pod,
            reason,
            message,
            component=COMPONENT,
            warning=warning,
            instance=self._instance,
        )
        if not recorded:
            self._on_error("event")

    def read_lease(self, namespace: str, name: str) -> Any:
        return self._call(
            "lease_get",
            f"read Lease {namespace}/{name}",
            self._coordination.read_namespaced_lease,
            name,
            namespace,
        )

    def create_lease(self, namespace: str, body: Any) -> Any:
        return self._call(
            "lease_create",
            f"create Lease in {namespace}",
            self._coordination.create_namespaced_lease,
            namespace,
            body,
        )

    def replace_lease(self, namespace: str, name: str, body: Any) -> Any:
        """Replace with the body's resourceVersion: a Conflict means someone else wrote first."""
        return self._call(
            "lease_update",
            f"replace Lease {namespace}/{name}",
            self._coordination.replace_namespaced_lease,
            name,
            namespace,
            body,
        )

    def _call(
        self, operation: str, what: str, function: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """One rate-limited call; a failure is counted under ``operation``, then raised.

        A 404 is an answer, not a failure: a pod deleted since the last list, a Lease not yet
        created. Counting it would page operators for a cluster doing its normal work.
        """
        self._bucket.acquire()
        try:
            return call(what, function, *args, **kwargs)
        except NotFound:
            raise
        except KubeError:
            self._on_error(operation)
            raise


def _watch_events(response: Any) -> Iterator[dict[str, Any]]:
    try:
        for line in iter_resp_lines(response):
            event = json.loads(line)
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                code = int(status.get("code") or 0)
                message = f"watch pods: {code} {status.get('message', '')}"
                raise Expired(message, code) if code == 410 else KubeError(message, code)
            yield event
    except (OSError, ValueError, urllib3.exceptions.HTTPError) as error:
        raise KubeError(f"watch pods: stream broke: {error}") from error
    finally:
        response.release_conn()
