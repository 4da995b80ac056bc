"""The edge to the Kubernetes API: client set-up, our own error classes, and Events.

Callers catch :class:`KubeError` subclasses, never the client's ``ApiException``, so the rest of
the code reads in the project's terms (gone, conflict, unavailable) and a client upgrade touches
this module only.
"""

# Postponed annotations: evaluating ``kubernetes.client.CoreV1Api`` in signatures at import time
# loads ~250 model modules (about 22 MiB), which the node writer's memory budget cannot carry.
from __future__ import annotations

import datetime
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from iops_limit.redact import mask_userinfo

log = logging.getLogger(__name__)

T = TypeVar("T")


class KubeError(Exception):
    """A Kubernetes API call failed."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(KubeError):
    """404: the object is gone."""


class Conflict(KubeError):
    """409 or 422: the object changed under us or the change was refused."""


class Expired(KubeError):
    """410 Gone: the resourceVersion is too old; relist."""


class Unavailable(KubeError):
    """5xx, 429 or no connection: worth retrying later."""


def translate(error: Exception, what: str) -> KubeError:
    """Map a client exception to our error classes, keeping the status and a short message
    (a connection error quotes the server's URL, which a kubeconfig may give user-info)."""
    if isinstance(error, ApiException):
        status = int(error.status or 0)
        message = f"{what}: HTTP {status} {error.reason or ''}".strip()
        if status == 404:
            return NotFound(message, status)
        if status in (409, 422):
            return Conflict(message, status)
        if status == 410:
            return Expired(message, status)
        if status == 429 or status >= 500 or status == 0:
            return Unavailable(message, status)
        return KubeError(message, status)
    if isinstance(error, urllib3.exceptions.HTTPError | OSError):
        return Unavailable(mask_userinfo(f"{what}: {type(error).__name__}: {error}"))
    raise error


def call(what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the client, raising our error classes instead of the client's."""
    try:
        return function(*args, **kwargs)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
        raise translate(error, what) from error


def load_api_client(kubeconfig: str | None) -> kubernetes.client.ApiClient:
    """In-cluster config when running in a pod, else the kubeconfig file (flag, then KUBECONFIG)."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_incluster_config()
        return kubernetes.client.ApiClient()
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return kubernetes.client.ApiClient(configuration)


@dataclass(frozen=True)
class PodRef:
    """Enough of a pod to address it and to attach an Event to it."""

    namespace: str
    name: str
    uid: str


def post_event(
    core: kubernetes.client.CoreV1Api,
    pod: PodRef,
    reason: str,
    message: str,
    *,
    component: str,
    warning: bool = False,
    host: str | None = None,
    instance: str | None = None,
) -> bool:
    """Record a core/v1 Event on the pod; returns whether it was recorded. Failure is logged,
    never raised: Events are advisory.

    ``reportingInstance`` is ``instance``, else ``host``, else ``component``: it tells an
    operator which replica or node spoke."""
    now = datetime.datetime.now(datetime.UTC)
    body = kubernetes.client.CoreV1Event(
        metadata=kubernetes.client.V1ObjectMeta(
            name=f"{pod.name}.{uuid.uuid4().hex[:16]}", namespace=pod.namespace
        ),
        involved_object=kubernetes.client.V1ObjectReference(
            api_version="v1", kind="Pod", name=pod.name, namespace=pod.namespace, uid=pod.uid
        ),
        reason=reason,
        message=message[:1024],
        type="Warning" if warning else "Normal",
        source=kubernetes.client.V1EventSource(component=component, host=host),
        reporting_component=component,
        reporting_instance=instance or host or component,
        first_timestamp=now,
        last_timestamp=now,
        count=1,
    )
    try:
        call(
            f"create Event {reason} on {pod.namespace}/{pod.name}",
            core.create_namespaced_event,
            pod.namespace,
            body,
        )
    except KubeError as error:
        log.warning(
            "could not record Event %s on %s/%s: %s", reason, pod.namespace, pod.name, error
        )
        return False
    return True
