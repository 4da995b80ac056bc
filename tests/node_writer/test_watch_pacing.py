"""The pod watch against a misbehaving API server: it must retry, but never in a hot loop.

A tiny HTTP stub on loopback stands in for the server, because the fake API server behaves
too well: it never answers a watch with an immediate empty 200 or 410 after every relist.
The tests count requests over a bounded period; the bound is loose, the broken writer made
thousands.
"""

import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator

import kubernetes
import pytest

from node_writer.api import NodeApi
from node_writer.cgroup_paths import CgroupLayout
from node_writer.watcher import PodWatcher
from tests.node_writer.helpers import harness

PERIOD = 2.0  # seconds the watcher runs against the stub
MOST_REQUESTS = 25  # exponential backoff from 0.05 s allows about 8 in PERIOD


class _Stub(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, watch_answer: Callable[[http.server.BaseHTTPRequestHandler], None]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.watch_answer = watch_answer
        self.lists = 0
        self.watches = 0
        self.lock = threading.Lock()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Stub
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits out a delayed ACK

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        with self.server.lock:
            if query.get("watch") == ["true"]:
                self.server.watches += 1
            else:
                self.server.lists += 1
        if query.get("watch") == ["true"]:
            self.server.watch_answer(self)
            return
        send(self, 200, {"kind": "PodList", "items": [], "metadata": {"resourceVersion": "7"}})

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests count requests, they do not read the log."""


def send(handler: http.server.BaseHTTPRequestHandler, status: int, body: object) -> None:
    data = (json.dumps(body) + "\n").encode() if body is not None else b""
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def empty_200(handler: http.server.BaseHTTPRequestHandler) -> None:
    send(handler, 200, None)


def gone_event(handler: http.server.BaseHTTPRequestHandler) -> None:
    send(handler, 200, {"type": "ERROR", "object": {"kind": "Status", "code": 410}})


def gone_status(handler: http.server.BaseHTTPRequestHandler) -> None:
    send(handler, 410, {"kind": "Status", "code": 410, "reason": "Expired"})


@pytest.fixture
def stub_server() -> Iterator[Callable[[Callable[..., None]], _Stub]]:
    servers: list[_Stub] = []

    def start(watch_answer: Callable[..., None]) -> _Stub:
        server = _Stub(watch_answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run_watcher_against(server: _Stub, layout: CgroupLayout) -> None:
    configuration = kubernetes.client.Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    writer = harness(layout)
    with kubernetes.client.ApiClient(configuration) as client:
        watcher = PodWatcher(
            NodeApi(client, "test", "node-1"),
            "node-1",
            writer.reconciler,
            writer.metrics,
            first_backoff=0.05,
        )
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        time.sleep(PERIOD)  # a bounded period to count requests in, not a timing assertion
        watcher.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_a_watch_answered_with_an_immediate_empty_200_backs_off(
    stub_server: Callable[[Callable[..., None]], _Stub],
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
) -> None:
    server = stub_server(empty_200)
    run_watcher_against(server, make_cgroup_tree("v2", "cgroupfs"))
    assert server.lists == 1
    assert 2 <= server.watches <= MOST_REQUESTS, "it must keep retrying, but paced"


@pytest.mark.parametrize("answer", [gone_event, gone_status], ids=["event", "status"])
def test_repeated_410_gone_relists_with_backoff(
    stub_server: Callable[[Callable[..., None]], _Stub],
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
    answer: Callable[..., None],
) -> None:
    server = stub_server(answer)
    run_watcher_against(server, make_cgroup_tree("v2", "cgroupfs"))
    assert 2 <= server.lists <= MOST_REQUESTS, "it must keep relisting, but paced"
    assert server.watches <= server.lists
