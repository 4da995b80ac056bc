"""The HTTP face of the fake Kubernetes API: the REST paths the real ``kubernetes`` client uses.

Served: ``/api/v1/...`` and ``/apis/<group>/<version>/...`` for the resources in
:data:`sandbox.fake_kube_store.RESOURCES` (get, list, watch, create, replace, patch, delete),
plus ``/version``. Errors are ``kind: Status`` bodies with the real server's codes and reasons.
Watches stream JSON lines over chunked transfer encoding until ``timeoutSeconds``; a
compacted resourceVersion gets an ERROR event carrying a 410 Status, as on the real server.
"""

import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.fake_kube_errors import StatusError
from sandbox.fake_kube_faults import Faults, RequestLog, RequestRecord
from sandbox.fake_kube_managed import manager_of
from sandbox.fake_kube_patch import apply_patch
from sandbox.fake_kube_queries import event_for, list_page, number, selection
from sandbox.fake_kube_store import (
    RESOURCES,
    Object,
    ResourceType,
    Store,
    WatchEnded,
)

log = logging.getLogger(__name__)

_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?"
    # The status subresource is served as the whole object (see README: what it simplifies).
    r"(?:/(?P<subresource>status))?$"
)
VERSION = {"major": "1", "minor": "30", "gitVersion": "v1.30.0-iops-limiter-fake"}


@dataclass(frozen=True)
class _WatchScope:
    """What one watch sees: which objects, and whether it asked for bookmarks."""

    resource: ResourceType
    namespace: str | None
    matches: Callable[[Object], bool]
    bookmarks: bool


class ApiServer(ThreadingHTTPServer):
    """Holds what request handlers share, and every open connection so stopping can cut them."""

    daemon_threads = True
    # Many clients (watchers, writers, benchmarks) connect at once on a loaded machine.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        faults: Faults,
        requests: RequestLog,
        *,
        bookmark_interval: float,
        max_watch_seconds: float,
    ) -> None:
        super().__init__(address, _Handler)
        self.store = store
        self.faults = faults
        self.requests = requests
        self.bookmark_interval = bookmark_interval
        self.max_watch_seconds = max_watch_seconds
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def cut_connections(self) -> None:
        """Shut every open client connection down, idle keep-alive ones included."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            _cut(connection)


def _cut(connection: socket.socket) -> None:
    # OSError: the other side closed it already.
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True
    server: ApiServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        length_text = self.headers.get("Content-Length") or "0"
        if not length_text.isdigit():
            self.close_connection = True  # the body's end is unknown: the stream is unusable
            self._send_json(400, StatusError(400, f"bad Content-Length {length_text!r}").status())
            return
        raw_body = self.rfile.read(int(length_text))

        def record(status: int) -> None:
            self.server.requests.add(RequestRecord(method, url.path, query, status))

        delay = self.server.faults.delay_for(url.path)
        if delay:
            time.sleep(delay)
        failure = self.server.faults.take_failure(method, url.path)
        try:
            if failure:
                raise StatusError(*failure)
            if method == "GET" and query.get("watch") in ("true", "1"):
                self._watch(url.path, query, record)
                return
            status, payload = self._route(method, url.path, query, raw_body)
        except StatusError as error:
            status, payload = error.code, error.status()
        except Exception as error:  # a bug here: answer like the real server, keep serving
            log.exception("fake API failed on %s %s", method, self.path)
            status, payload = 500, StatusError(500, f"{type(error).__name__}: {error}").status()
        record(status)
        try:
            self._send_json(status, payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting; nothing to tell it

    def _route(
        self, method: str, path: str, query: dict[str, str], raw_body: bytes
    ) -> tuple[int, Object]:
        if path == "/version" and method == "GET":
            return 200, dict(VERSION)
        resource, namespace, name = _resolve(path)
        store = self.server.store
        manager = manager_of(query, self.headers.get("User-Agent", ""))
        if name is None and method == "GET":
            return 200, list_page(store, resource, namespace, query)
        if name is None and method == "POST":
            return 201, store.create(resource, namespace, _object_body(raw_body), manager)
        if name is not None and method in ("GET", "PUT", "PATCH", "DELETE"):
            return 200, self._on_object(
                method, resource, namespace, name, raw_body, manager=manager
            )
        raise StatusError(405, f"{method} is not supported on {path}")

    def _on_object(
        self,
        method: str,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        raw_body: bytes,
        *,
        manager: str,
    ) -> Object:
        store = self.server.store
        if method == "PUT":
            replacement = _replacement(raw_body, namespace)
            return store.update(resource, namespace, name, replacement, manager)
        if method == "PATCH":
            patch = _json_body(raw_body)
            content_type = self.headers.get("Content-Type", "")
            return store.update(
                resource,
                namespace,
                name,
                lambda old: apply_patch(content_type, old, patch),
                manager,
            )
        if method == "DELETE":
            return store.delete(resource, namespace, name, _delete_preconditions(raw_body))
        return store.get(resource, namespace, name)

    def _watch(self, path: str, query: dict[str, str], record: Callable[[int], None]) -> None:
        resource, namespace, name = _resolve(path)
        if name is not None:
            raise StatusError(405, "watch a collection, with a metadata.name field selector")
        matches = selection(resource, query)
        timeout = number(query, "timeoutSeconds", self.server.max_watch_seconds)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        since = query.get("resourceVersion", "")
        if since and not since.isdigit():
            raise StatusError(400, f"invalid resourceVersion {since!r}")
        store = self.server.store
        epoch = store.epoch
        deadline = time.monotonic() + timeout
        record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if since in ("", "0"):
                # The real server starts such a watch with the current state as ADDED events.
                items, after = store.select(resource, namespace, matches)
                for obj in items:
                    self._send_event("ADDED", obj)
            else:
                after = int(since)
            self._stream(
                _WatchScope(resource, namespace, matches, bookmarks), after, deadline, epoch
            )
            self.wfile.write(b"0\r\n\r\n")
        except WatchEnded:
            self.close_connection = True
            _cut(self.connection)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nothing to tell it

    def _stream(self, scope: _WatchScope, after: int, deadline: float, epoch: int) -> None:
        store = self.server.store
        resource = scope.resource
        while time.monotonic() < deadline:
            wait_until = min(deadline, time.monotonic() + self.server.bookmark_interval)
            try:
                changes, revision = store.changes_after(resource, after, wait_until, epoch)
            except StatusError as error:
                self._send_event("ERROR", error.status())
                return
            for change in changes:
                event = event_for(change, scope.namespace, scope.matches)
                if event:
                    self._send_event(*event)
            if changes:
                after = changes[-1].resource_version
                continue
            after = revision
            if scope.bookmarks and time.monotonic() < deadline:
                marker = {"kind": resource.kind, "apiVersion": resource.api_version}
                self._send_event("BOOKMARK", marker | {"metadata": {"resourceVersion": str(after)}})

    def _send_event(self, kind: str, obj: Object) -> None:
        line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))

    def _send_json(self, status: int, payload: Object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _resolve(path: str) -> tuple[ResourceType, str | None, str | None]:
    match = _PATH.match(path)
    resource = None
    if match:
        api_version = match["core"] or f"{match['group']}/{match['version']}"
        resource = RESOURCES.get(f"{api_version}/{match['plural']}")
    if match is None or resource is None:
        raise StatusError(404, f"the server could not find the requested resource ({path})")
    namespace = unquote(match["namespace"]) if match["namespace"] else None
    name = unquote(match["name"]) if match["name"] else None
    if namespace and not resource.namespaced:
        raise StatusError(404, f"{resource.plural} are not namespaced ({path})")
    if (name and resource.namespaced and not namespace) or (
        match["subresource"] and resource.kind != "Pod"
    ):
        raise StatusError(404, f"the server could not find the requested resource ({path})")
    return resource, namespace, name


def _json_body(raw_body: bytes) -> Any:
    try:
        return json.loads(raw_body or b"null")
    except ValueError as error:
        raise StatusError(400, f"the request body is not JSON: {error}") from error


def _object_body(raw_body: bytes) -> Object:
    body = _json_body(raw_body)
    if not isinstance(body, dict):
        raise StatusError(400, "the request body must be a JSON object")
    return body


def _replacement(raw_body: bytes, namespace: str | None) -> Callable[[Object], Object]:
    body = _object_body(raw_body)
    metadata = body.setdefault("metadata", {})
    if isinstance(metadata, dict) and namespace:
        metadata.setdefault("namespace", namespace)
    return lambda _old: body


def _delete_preconditions(raw_body: bytes) -> Callable[[Object], None]:
    """DeleteOptions.preconditions (uid, resourceVersion) as a check on the stored object."""
    body = _json_body(raw_body) if raw_body else None
    preconditions = (body.get("preconditions") if isinstance(body, dict) else None) or {}

    def check(current: Object) -> None:
        for field in ("uid", "resourceVersion"):
            wanted = preconditions.get(field)
            if wanted and wanted != current["metadata"][field]:
                raise StatusError(
                    409,
                    f"Precondition failed: {field} in precondition: {wanted}, "
                    f"{field} in object meta: {current['metadata'][field]}",
                )

    return check
