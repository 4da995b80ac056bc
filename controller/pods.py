"""Pod metadata for the cycle from a watch-backed cache: list once, then watch.

Why a cache and not a fetch per cycle: the rules may consider any container in the cluster, and
listing every pod every INTERVAL is the load an operator of a large cluster will not accept.
One list at start, then a watch from its resourceVersion; on 410 Gone (the watch fell too far
behind) list again. The cycle reads a snapshot, never the API. Only what the controller uses
is kept per pod (labels, node, UID, container names, ``iops-limit/*`` annotations), so 100k
pods stay small.
"""

import functools
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from controller.kubeapi import KubeApi
from iops_limit.annotations import PREFIX
from iops_limit.kube import Expired, KubeError, PodRef

log = logging.getLogger(__name__)

WATCH_TIMEOUT_SECONDS = 300
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)
# A watch that delivered no event and ended sooner than this was no watch at all: re-opening it
# at once is a hot loop against a server that ends every watch (or answers 410 after every
# relist), held back only by the client's rate limit.
HEALTHY_WATCH_SECONDS = 5.0

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What the controller knows about one pod."""

    namespace: str
    name: str
    uid: str
    node: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]  # only the iops-limit/* ones
    containers: tuple[str, ...]
    resource_version: str
    container_ids: Mapping[str, str]  # runtime container ID (no scheme) -> container name
    # iops-limit/* key -> the field manager that last set it (metadata.managedFields)
    managers: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)

    def ref(self) -> PodRef:
        return PodRef(self.namespace, self.name, self.uid)


_NONE: Mapping[str, str] = MappingProxyType({})


def pod_info(pod: Mapping[str, Any]) -> PodInfo:
    """The cached form of a pod's JSON.

    Namespaces, nodes, container names and labels repeat across thousands of pods: interned,
    each is held once, and pods with the same labels share one mapping of them (at 100k pods
    that is most of the cache's memory).
    """
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if k.startswith(PREFIX)
    }
    labels = metadata.get("labels") or {}
    return PodInfo(
        namespace=sys.intern(str(metadata.get("namespace") or "")),
        name=str(metadata.get("name") or ""),
        uid=str(metadata.get("uid") or ""),
        node=sys.intern(str(spec.get("nodeName") or "")),
        labels=_shared_labels(tuple(labels.items())) if labels else _NONE,
        annotations=annotations or _NONE,
        containers=tuple(sys.intern(str(c.get("name"))) for c in spec.get("containers") or []),
        resource_version=str(metadata.get("resourceVersion") or ""),
        container_ids=_container_ids(pod.get("status") or {}),
        managers=_managers(metadata) if annotations else _NONE,
    )


@functools.lru_cache(maxsize=4096)
def _shared_labels(items: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    """One read-only mapping per distinct label set: a Deployment's pods all carry the same
    labels, and a dict per pod was ~18 MB of the cache at 100k pods. Bounded, so label sets
    of pods long gone (Jobs, StatefulSet pod names) are not kept."""
    return MappingProxyType({sys.intern(k): sys.intern(v) for k, v in items})


def _managers(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Which field manager set each ``iops-limit/*`` annotation, from managedFields: the API
    server's own record of who wrote what (the controller writes as ``iops-controller``)."""
    out: dict[str, str] = {}
    for entry in metadata.get("managedFields") or []:
        fields = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations")
        for name in fields or {}:
            key = str(name).removeprefix("f:")
            if key.startswith(PREFIX):
                out[key] = sys.intern(str(entry.get("manager") or ""))
    return out


def standalone_index(pods: Iterable[PodInfo]) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(pod UID, container ID) -> (namespace, pod, container): how series of a standalone
    cAdvisor, which name a container only by its cgroup path, are mapped to pods. The UID is
    lower-cased as cgroup paths carry it."""
    return {
        (pod.uid.lower(), container_id): (pod.namespace, pod.name, container)
        for pod in pods
        for container_id, container in pod.container_ids.items()
    }


def _container_ids(status: Mapping[str, Any]) -> dict[str, str]:
    """``containerd://abc...`` -> ``abc...``: standalone cAdvisor series name containers by ID."""
    out: dict[str, str] = {}
    for entry in status.get("containerStatuses") or []:
        _, _, container_id = str(entry.get("containerID") or "").rpartition("://")
        if container_id:
            out[container_id] = sys.intern(str(entry.get("name")))
    return out


def _newer(candidate: str, cached: str) -> bool:
    """Whether a pod version is not older than the cached one (resourceVersions are integers
    in every API server we know; when either is not, trust arrival order)."""
    if candidate.isdigit() and cached.isdigit():
        return int(candidate) >= int(cached)
    return True


Listener = Callable[[PodInfo | None, PodInfo | None], None]


class PodCache:
    """All pods, kept current by a watch in a background thread.

    ``listener(before, after)`` is called for every change the watch reports (None for a pod
    that appeared or went away); ``iops-controller watch`` uses it.
    """

    def __init__(
        self,
        api: KubeApi,
        listener: Listener | None = None,
        *,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        self._api = api
        self._listener = listener
        self._pods: dict[Key, PodInfo] = {}
        self._annotated: set[Key] = set()
        self._resource_version = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # How the watch loop waits between attempts; tests record the waits instead.
        self._wait = wait or self._stop.wait
        self._events_seen = 0
        self._thread: threading.Thread | None = None
        self._synced = threading.Event()
        self._watch_error: str | None = None
        self.relists = 0

    # -- reading -------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> PodInfo | None:
        with self._lock:
            return self._pods.get((namespace, name))

    def snapshot(self) -> dict[Key, PodInfo]:
        with self._lock:
            return dict(self._pods)

    def annotated(self) -> list[PodInfo]:
        """Pods carrying any ``iops-limit/*`` annotation: the only ones that can hold a limit."""
        with self._lock:
            return [self._pods[key] for key in self._annotated]

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def watch_error(self) -> str | None:
        """Why the watch is down (the cache is going stale), or None while it is up."""
        return self._watch_error

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    # -- keeping it current --------------------------------------------------------------------

    def sync(self) -> None:
        """List every pod and replace the cache with the result."""
        infos, resource_version = self._api.list_pods(pod_info)
        fresh = {info.key: info for info in infos}
        with self._lock:
            before = self._pods
            self._pods = fresh
            self._annotated = {key for key, info in fresh.items() if info.annotations}
            self._resource_version = resource_version
        self._synced.set()
        if before:
            for key in before.keys() | fresh.keys():
                if before.get(key) != fresh.get(key):
                    self._notify(before.get(key), fresh.get(key))
        log.info("pod cache: listed %d pods at resourceVersion %s", len(fresh), resource_version)

    def observe(self, pod: Mapping[str, Any]) -> None:
        """Take a pod we got from the API outside the watch (e.g. a patch response)."""
        self._put(pod_info(pod))

    def forget(self, namespace: str, name: str) -> None:
        """Drop a pod the API said is gone (404)."""
        self._remove((namespace, name))

    def start(self) -> None:
        """List now (raising if the API cannot be reached), then watch in the background."""
        self.sync()
        self._thread = threading.Thread(target=self._watch_loop, name="pod-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    # -- internals -----------------------------------------------------------------------------

    def _put(self, info: PodInfo) -> None:
        with self._lock:
            before = self._pods.get(info.key)
            if before is not None and not _newer(info.resource_version, before.resource_version):
                return
            self._pods[info.key] = info
            if info.annotations:
                self._annotated.add(info.key)
            else:
                self._annotated.discard(info.key)
        if before != info:
            self._notify(before, info)

    def _remove(self, key: Key) -> None:
        with self._lock:
            before = self._pods.pop(key, None)
            self._annotated.discard(key)
        if before is not None:
            self._notify(before, None)

    def _notify(self, before: PodInfo | None, after: PodInfo | None) -> None:
        """Tell the listener; its failure is its own (one change not shown), not the watch's."""
        if self._listener is None:
            return
        try:
            self._listener(before, after)
        except Exception:
            log.exception("pod watch: the change listener failed")

    def _watch_loop(self) -> None:
        """Watch until stopped. Every round is guarded: whatever fails (the API, a malformed
        event, a bug) is logged and retried with backoff, and readiness is false meanwhile.

        Backoff resets only after a healthy watch: one that delivered an event or stayed open
        for HEALTHY_WATCH_SECONDS. A watch the server ends at once waits like a failure; the
        first 410 Gone relists at once (compaction is routine), a second in a row waits.
        """
        failures = 0
        expired_in_a_row = 0
        while not self._stop.is_set():
            opened = time.monotonic()
            seen = self._events_seen
            error: Exception | None = None
            expired = False
            try:
                self._watch_once()
            except Expired:
                expired = True
            except Exception as failure:
                error = failure
            if self._events_seen > seen or time.monotonic() - opened >= HEALTHY_WATCH_SECONDS:
                failures = 0
                expired_in_a_row = 0
            elif not expired and error is None and not self._stop.is_set():
                failures = self._pace(failures, "the server ended the pod watch at once")
            if error is not None:
                failures = self._back_off(failures, error)
            elif expired:
                expired_in_a_row += 1
                if expired_in_a_row > 1:
                    failures = self._pace(failures, "the pod watch expired again after a relist")
                failures = self._relist(failures)

    def _relist(self, failures: int) -> int:
        log.info("pod watch: resourceVersion expired, listing again")
        self.relists += 1
        try:
            self.sync()
        except Exception as error:
            return self._back_off(failures, error)
        return failures

    def _pace(self, failures: int, why: str) -> int:
        """Wait before the next watch though nothing failed: the server is not really watching."""
        delay = _retry_delay(failures)
        log.warning("%s; watching again in %.1fs", why, delay)
        self._wait(delay)
        return failures + 1

    def _back_off(self, failures: int, error: Exception) -> int:
        self._watch_error = f"{type(error).__name__}: {error}"
        delay = _retry_delay(failures)
        if isinstance(error, KubeError):
            log.warning("pod watch failed (%s); retrying in %.1fs", error, delay)
        else:
            log.exception("pod watch failed unexpectedly; retrying in %.1fs", delay)
        self._wait(delay)
        return failures + 1

    def _watch_once(self) -> None:
        with self._lock:
            resource_version = self._resource_version
        events = self._api.watch_pods(resource_version, WATCH_TIMEOUT_SECONDS)
        self._watch_error = None
        for event in events:
            if self._stop.is_set():
                return
            self._events_seen += 1
            kind = event.get("type")
            obj = event.get("object") or {}
            version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            if kind in ("ADDED", "MODIFIED"):
                self._put(pod_info(obj))
            elif kind == "DELETED":
                info = pod_info(obj)
                self._remove(info.key)
            if version:
                with self._lock:
                    self._resource_version = version


def _retry_delay(failures: int) -> float:
    """The wait after ``failures`` unhealthy watches in a row: the steps, then the last one."""
    return RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
