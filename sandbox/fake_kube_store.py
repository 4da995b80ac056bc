"""The fake API server's state: objects, the global resourceVersion, and the change history
watches read from.

Every change bumps one global counter, like etcd's revision, and lands in a bounded history.
A watch from a resourceVersion older than the history's start (after :meth:`Store.compact`,
or once the history overflowed) is answered with 410 Expired, as the real server does.
All methods are thread-safe; objects go in and out as deep copies.
"""

import bisect
import collections
import copy
import datetime
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.fake_kube_errors import StatusError
from sandbox.fake_kube_managed import track_annotations
from sandbox.fake_kube_validation import check_kind, check_metadata, tidy

Object = dict[str, Any]
_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class ResourceType:
    """One kind of object the fake serves, addressed as ``<api_version>/<plural>``."""

    api_version: str
    plural: str
    kind: str
    namespaced: bool
    field_labels: frozenset[str]

    @property
    def key(self) -> str:
        return f"{self.api_version}/{self.plural}"


PODS = ResourceType(
    "v1",
    "pods",
    "Pod",
    namespaced=True,
    field_labels=_COMMON_FIELDS
    | {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName"}
    | {"status.phase", "status.podIP", "status.nominatedNodeName"},
)
NODES = ResourceType(
    "v1", "nodes", "Node", namespaced=False, field_labels=_COMMON_FIELDS | {"spec.unschedulable"}
)
EVENTS = ResourceType(
    "v1",
    "events",
    "Event",
    namespaced=True,
    field_labels=_COMMON_FIELDS
    | {f"involvedObject.{field}" for field in ("kind", "namespace", "name", "uid", "fieldPath")}
    | {"reason", "reportingComponent", "source", "type"},
)
LEASES = ResourceType(
    "coordination.k8s.io/v1", "leases", "Lease", namespaced=True, field_labels=_COMMON_FIELDS
)
RESOURCES = {resource.key: resource for resource in (PODS, NODES, EVENTS, LEASES)}


@dataclass(frozen=True)
class Change:
    """One entry of the history: ``old`` is None for ADDED; for DELETED ``new`` is the object
    as it was deleted, carrying the deletion's resourceVersion."""

    resource_version: int
    type: str
    resource: ResourceType
    old: Object | None
    new: Object


class WatchEnded(Exception):
    """The store was closed or watches were dropped: the watcher must cut its connection."""


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(resource: ResourceType, namespace: str | None, name: str) -> tuple[str, str, str]:
    return (resource.key, namespace or "", name)


class Store:
    def __init__(self, history_limit: int = 10_000) -> None:
        self._lock = threading.Condition()
        self._revision = 1
        # Watches from before this revision have lost events to compaction: 410.
        self._oldest = 1
        self._history: collections.deque[Change] = collections.deque(maxlen=history_limit)
        self._objects: dict[tuple[str, str, str], Object] = {}
        self._ordered: list[tuple[str, str, str]] | None = None  # sorted keys; None: stale
        self._epoch = 0
        self._closed = False

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._revision

    @property
    def oldest(self) -> int:
        """The oldest resourceVersion a watch or continue token can still start from."""
        with self._lock:
            return self._oldest

    @property
    def epoch(self) -> int:
        """Bumped by :meth:`drop_watches`; a watch started in an older epoch must end."""
        with self._lock:
            return self._epoch

    def get(self, resource: ResourceType, namespace: str | None, name: str) -> Object:
        with self._lock:
            return copy.deepcopy(self._current(resource, namespace, name))

    def select(
        self, resource: ResourceType, namespace: str | None, matches: Callable[[Object], bool]
    ) -> tuple[list[Object], int]:
        """Matching objects ordered by namespace and name, and the revision they were read at."""
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (kind, obj_namespace, _name), obj in sorted(self._objects.items())
                if kind == resource.key
                and (namespace is None or obj_namespace == namespace)
                and matches(obj)
            ]
            return items, self._revision

    def select_page(
        self,
        resource: ResourceType,
        namespace: str | None,
        matches: Callable[[Object], bool] | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> tuple[list[Object], int, int]:
        """One list page: up to ``limit`` (0: no limit) objects after ``after`` (namespace,
        name) that ``matches`` (None: every one), ordered by namespace and name; how many
        matching objects follow them; the revision they were read at.

        Made for 100k pods in pages of 500: a page bisects the sorted keys to where it starts,
        counts what follows by position when nothing is filtered, and copies only its own
        objects, through JSON (they are JSON data) as ``copy.deepcopy`` is ~10x slower.
        """
        with self._lock:
            if self._ordered is None:
                self._ordered = sorted(self._objects)
            keys = self._ordered
            scope = (resource.key,) if namespace is None else (resource.key, namespace)
            start = bisect.bisect_left(keys, scope)
            if after is not None:
                start = max(start, bisect.bisect_right(keys, (resource.key, *after)))
            # Every key of the scope sorts before the scope with a NUL appended.
            end = bisect.bisect_left(keys, (*scope[:-1], scope[-1] + "\0"))
            if matches is None:
                chosen = keys[start : start + limit if limit else end]
                remaining = max(0, end - start - len(chosen))
                items = [self._objects[key] for key in chosen]
            else:
                items, remaining = [], 0
                for key in keys[start:end]:
                    obj = self._objects[key]
                    if not matches(obj):
                        continue
                    if limit and len(items) == limit:
                        remaining += 1
                    else:
                        items.append(obj)
            return orjson.loads(orjson.dumps(items)), remaining, self._revision

    def create(
        self,
        resource: ResourceType,
        namespace: str | None,
        obj: Object,
        manager: str | None = None,
    ) -> Object:
        """Store a new object; ``manager`` (the API caller's field manager) owns what it set."""
        obj = copy.deepcopy(obj)
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise StatusError(400, "metadata must be an object")
        _check_namespace(resource, namespace, metadata)
        check_kind(resource.kind, resource.api_version, obj)
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = f"{metadata['generateName']}{uuid.uuid4().hex[:5]}"
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            raise StatusError(422, f"{resource.kind} is invalid: metadata.name: Required value")
        with self._lock:
            key = _key(resource, namespace, name)
            if key in self._objects:
                raise StatusError(
                    409, f'{resource.plural} "{name}" already exists', reason="AlreadyExists"
                )
            metadata.setdefault("uid", str(uuid.uuid4()))
            metadata.setdefault("creationTimestamp", now_rfc3339())
            if namespace:
                metadata["namespace"] = namespace
            check_metadata(resource.kind, metadata)
            tidy(metadata)
            track_annotations(None, metadata, manager, now_rfc3339())
            obj["kind"], obj["apiVersion"] = resource.kind, resource.api_version
            self._commit(key, "ADDED", resource, None, obj)
            return copy.deepcopy(obj)

    def update(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        change: Callable[[Object], Object],
        manager: str | None = None,
    ) -> Object:
        """Replace the object with ``change(copy of it)``, atomically; ``manager`` (the API
        caller's field manager) owns the annotations it set (see fake_kube_managed).

        A resourceVersion or uid left in the result that differs from the stored one is a
        failed precondition (409), like the real server's optimistic concurrency. A change
        that changes nothing is not written: no new resourceVersion, no watch event.
        """
        with self._lock:
            key = _key(resource, namespace, name)
            old = self._current(resource, namespace, name)
            new = change(copy.deepcopy(old))
            metadata = new.get("metadata")
            if not isinstance(metadata, dict):
                raise StatusError(422, f"{resource.kind} is invalid: metadata: Required value")
            if metadata.get("name") != name or (metadata.get("namespace") or "") != (
                namespace or ""
            ):
                raise StatusError(
                    400,
                    f"the name or namespace of the object ({metadata.get('namespace')}/"
                    f"{metadata.get('name')}) does not match the URL ({namespace}/{name})",
                )
            old_metadata = old["metadata"]
            stated_version = metadata.get("resourceVersion")
            if stated_version and stated_version != old_metadata["resourceVersion"]:
                raise StatusError(
                    409,
                    f'Operation cannot be fulfilled on {resource.plural} "{name}": the object '
                    "has been modified; please apply your changes to the latest version and "
                    "try again",
                )
            if metadata.get("uid") and metadata["uid"] != old_metadata["uid"]:
                raise StatusError(
                    409,
                    f"Precondition failed: UID in precondition: {metadata['uid']}, "
                    f"UID in object meta: {old_metadata['uid']}",
                )
            for field in ("uid", "creationTimestamp", "resourceVersion"):
                metadata[field] = old_metadata[field]
            check_kind(resource.kind, resource.api_version, new)
            check_metadata(resource.kind, metadata)
            tidy(metadata)
            track_annotations(old_metadata, metadata, manager, now_rfc3339())
            new["kind"], new["apiVersion"] = resource.kind, resource.api_version
            if new == old:
                return copy.deepcopy(old)
            self._commit(key, "MODIFIED", resource, old, new)
            return copy.deepcopy(new)

    def delete(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        precondition: Callable[[Object], None] | None = None,
    ) -> Object:
        """Remove the object; ``precondition`` may refuse (raise) on seeing it first."""
        with self._lock:
            key = _key(resource, namespace, name)
            old = self._current(resource, namespace, name)
            if precondition:
                precondition(old)
            del self._objects[key]
            self._ordered = None
            gone = copy.deepcopy(old)
            self._record("DELETED", resource, old, gone)
            return copy.deepcopy(gone)

    def compact(self) -> int:
        """Forget the history: watches from any resourceVersion before now answer 410."""
        with self._lock:
            self._history.clear()
            self._oldest = self._revision
            return self._revision

    def drop_watches(self) -> None:
        with self._lock:
            self._epoch += 1
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def changes_after(
        self, resource: ResourceType, after: int, deadline: float, epoch: int
    ) -> tuple[list[Change], int]:
        """Changes to ``resource`` newer than ``after``, waiting for one until ``deadline``
        (``time.monotonic``), and the revision they were read at: a watcher that got none
        has missed nothing up to that revision. Raises 410 if ``after`` was compacted away,
        and :class:`WatchEnded` when the store closes or ``epoch`` is no longer current."""
        with self._lock:
            while True:
                if self._closed or self._epoch != epoch:
                    raise WatchEnded
                if after < self._oldest:
                    raise StatusError(410, f"too old resource version: {after} ({self._oldest})")
                newer = []
                # Newest first, stopping at what the watcher has seen: O(new changes).
                for change in reversed(self._history):
                    if change.resource_version <= after:
                        break
                    if change.resource is resource:
                        newer.append(change)
                newer.reverse()
                remaining = deadline - time.monotonic()
                if newer or remaining <= 0:
                    return newer, self._revision
                self._lock.wait(remaining)

    def _current(self, resource: ResourceType, namespace: str | None, name: str) -> Object:
        obj = self._objects.get(_key(resource, namespace, name))
        if obj is None:
            raise StatusError(404, f'{resource.plural} "{name}" not found')
        return obj

    def _commit(
        self,
        key: tuple[str, str, str],
        kind: str,
        resource: ResourceType,
        old: Object | None,
        new: Object,
    ) -> None:
        if key not in self._objects:
            self._ordered = None
        self._objects[key] = new
        self._record(kind, resource, old, new)

    def _record(self, kind: str, resource: ResourceType, old: Object | None, new: Object) -> None:
        self._revision += 1
        new["metadata"]["resourceVersion"] = str(self._revision)
        if len(self._history) == self._history.maxlen:
            # The entry about to fall out is lost to watches that have not seen it yet.
            self._oldest = self._history[0].resource_version
        self._history.append(Change(self._revision, kind, resource, old, copy.deepcopy(new)))
        self._lock.notify_all()


def _check_namespace(resource: ResourceType, namespace: str | None, metadata: Object) -> None:
    stated = metadata.get("namespace")
    if resource.namespaced and not namespace:
        raise StatusError(400, f"{resource.plural} must be created in a namespace")
    if stated and stated != namespace:
        raise StatusError(
            400,
            f"the namespace of the provided object ({stated}) does not match the namespace "
            f"sent on the request ({namespace})",
        )
