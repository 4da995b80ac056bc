"""The node's pods from the API server: list, then watch from that resourceVersion.

Pods are read as JSON (see :mod:`node_writer.api`). A 410 Gone (our resourceVersion was
compacted away) relists; a dropped connection or a 5xx reconnects with exponential backoff,
from the last resourceVersion seen.

Backoff resets only after a watch that stayed open for a while (HEALTHY_WATCH_SECONDS): a
server that ends every watch at once, even with a 200, or answers 410 after every relist,
would otherwise be asked thousands of times a second by every node. The first 410 relists at
once (compaction is routine); a second one in a row waits like a failure.
"""

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import urllib3

from iops_limit import kube
from node_writer.api import NodeApi, abandon, node_pods
from node_writer.metrics import WriterMetrics
from node_writer.pods import pod_view
from node_writer.reconciler import Reconciler

log = logging.getLogger(__name__)

WATCH_SECONDS = 300
MAX_BACKOFF = 30.0
HEALTHY_WATCH_SECONDS = 5.0


class PodWatcher:
    """Feeds every change of the node's pods to the reconciler, until :meth:`stop`."""

    def __init__(
        self,
        api: NodeApi,
        node_name: str,
        reconciler: Reconciler,
        metrics: WriterMetrics,
        *,
        watch_seconds: int = WATCH_SECONDS,
        first_backoff: float = 0.5,
    ) -> None:
        self._api = api
        self._selector = node_pods(node_name)
        self._reconciler = reconciler
        self._metrics = metrics
        self._watch_seconds = watch_seconds
        self._first_backoff = first_backoff
        self._stopping = threading.Event()
        self._response: urllib3.BaseHTTPResponse | None = None
        self._connected = threading.Event()
        self._listed = threading.Event()

    @property
    def connected(self) -> bool:
        """True while the last call to the API server succeeded."""
        return self._connected.is_set()

    def wait_listed(self, timeout: float) -> bool:
        """Wait for the first full list to be reconciled."""
        return self._listed.wait(timeout)

    def run(self) -> None:
        resource_version: str | None = None
        backoff = self._first_backoff
        expired_in_a_row = 0
        while not self._stopping.is_set():
            opened: float | None = None  # when the watch opened; None if (re)listing failed
            cause: str | None = None  # why the watch is restarted, None after a normal end
            try:
                if resource_version is None:
                    resource_version = self._relist()
                opened = time.monotonic()
                resource_version = self._watch(resource_version)
                if time.monotonic() - opened < HEALTHY_WATCH_SECONDS:
                    cause, why = "ended", "the server ended the pod watch at once"
            except kube.Expired:
                resource_version = None
                cause, why = "expired", "pod watch expired (410 Gone) again right after a relist"
            except Exception as error:  # a bug must not end the watch; the writer stays useful
                if not isinstance(error, kube.KubeError):
                    log.exception("pod watch crashed")
                self._connected.clear()
                cause, why = "unavailable", f"pod watch failed: {error}"
            if opened is not None and time.monotonic() - opened >= HEALTHY_WATCH_SECONDS:
                backoff = self._first_backoff  # it worked for a while: a new failure starts over
                expired_in_a_row = 0
            if cause is None or self._stopping.is_set():
                continue  # a watch ended by stop() is no failure
            self._metrics.watch_restarts.labels(cause).inc()
            expired_in_a_row = expired_in_a_row + 1 if cause == "expired" else 0
            if expired_in_a_row == 1:
                log.info("pod watch expired (410 Gone): relisting")
                continue
            delay = backoff * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not secrets
            log.warning("%s; retrying in %.1fs", why, delay)
            self._stopping.wait(delay)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def stop(self) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:
            response.shutdown()

    def _relist(self) -> str:
        body = self._api.list_pods(self._selector)
        self._connected.set()
        items = body.get("items") or []
        self._reconciler.replace_all(pod_view(item) for item in items)
        self._listed.set()
        version = str((body.get("metadata") or {}).get("resourceVersion") or "")
        log.info("listed %d pods at resourceVersion %s", len(items), version)
        return version

    def _watch(self, resource_version: str) -> str:
        """Follow the watch until it ends; return the last resourceVersion seen."""
        response = self._api.watch_pods(self._selector, resource_version, self._watch_seconds)
        self._response = response
        self._connected.set()
        try:
            for line in _lines(response):
                if self._stopping.is_set():
                    break
                resource_version = self._handle(json.loads(line), resource_version)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            if self._stopping.is_set():
                return resource_version
            raise kube.Unavailable(f"pod watch stream broke: {type(error).__name__}") from error
        finally:
            self._response = None
            abandon(response)
        return resource_version

    def _handle(self, event: dict[str, Any], resource_version: str) -> str:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            if code == 410:
                raise kube.Expired("pod watch: 410 Gone", 410)
            raise kube.Unavailable(f"pod watch error {code}: {obj.get('message', '')}", code)
        metadata = obj.get("metadata") or {}
        version = str(metadata.get("resourceVersion") or resource_version)
        if kind in ("ADDED", "MODIFIED"):
            self._reconciler.update(pod_view(obj))
        elif kind == "DELETED":
            self._reconciler.delete(str(metadata.get("uid", "")))
        return version


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """JSON lines of a chunked watch response, as they arrive."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=False):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending
