"""A real Alertmanager on loopback, and the webhook receiver it delivers notifications to.

:class:`AlertmanagerServer` runs ``/usr/bin/prometheus-alertmanager`` with clustering off, its
own data directory and a one-route configuration whose timers are short enough for tests
(``group_wait`` and ``group_interval`` of a second). :class:`WebhookReceiver` is the HTTP
endpoint that route posts to; it keeps every payload it receives so a test can wait for one.
"""

import http.server
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import requests
import yaml

ALERTMANAGER_BINARY = "/usr/bin/prometheus-alertmanager"

Payload = dict[str, Any]


class AlertmanagerError(RuntimeError):
    """Alertmanager would not start or become ready; the message carries its log tail."""


class WebhookReceiver:
    """Collects the JSON payloads POSTed to it, on 127.0.0.1 and a free port.

    Thread-safe: the server thread appends, tests read with :meth:`payloads` or block in
    :meth:`wait_for`.
    """

    def __init__(self) -> None:
        self._payloads: list[Payload] = []
        self._changed = threading.Condition()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhook"

    def start(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "WebhookReceiver":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def payloads(self) -> list[Payload]:
        with self._changed:
            return list(self._payloads)

    def wait_for(self, predicate: Callable[[Payload], bool], timeout: float = 30.0) -> Payload:
        """The first payload received (before or during the wait) for which predicate holds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for payload in self._payloads:
                    if predicate(payload):
                        return payload
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no matching webhook payload within {timeout:.0f}s; received "
                        f"{len(self._payloads)}: {json.dumps(self._payloads)[:2000]}"
                    )
                self._changed.wait(remaining)

    def _receive(self, payload: Payload) -> None:
        with self._changed:
            self._payloads.append(payload)
            self._changed.notify_all()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        receive = self._receive

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    payload = json.loads(self.rfile.read(length))
                except ValueError:
                    self._reply(400)
                    return
                receive(payload)
                self._reply(200)

            def _reply(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test reads payloads, not access logs

        return Handler


class AlertmanagerServer:
    """A real Alertmanager on a free loopback port, routing everything to one webhook.

    ``group_by`` is the route's grouping; ``receiver`` names the receiver as it appears in
    webhook payloads. With ``child_matchers`` (``alertname="X"``) the alerts matching them go
    through a child route with the same receiver and grouping instead (its own group key).
    The data directory is a fresh temporary one unless given; ``port`` 0 takes a free one.
    """

    def __init__(
        self,
        webhook_url: str,
        *,
        receiver: str = "iops-limiter",
        group_by: Sequence[str] = ("alertname", "group", "rule"),
        group_wait: str = "1s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
        resolve_timeout: str = "5m",
        data_dir: Path | None = None,
        port: int = 0,
        ready_timeout: float = 60.0,
        child_matchers: Sequence[str] = (),
    ) -> None:
        self.receiver = receiver
        self.group_by = tuple(group_by)
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="iops-limiter-alertmanager-"))
        self._ready_timeout = ready_timeout
        self._config = {
            "global": {"resolve_timeout": resolve_timeout},
            "route": {
                "receiver": receiver,
                "group_by": list(self.group_by),
                "group_wait": group_wait,
                "group_interval": group_interval,
                "repeat_interval": repeat_interval,
                "routes": (
                    [{"matchers": list(child_matchers), "group_by": list(self.group_by)}]
                    if child_matchers
                    else []
                ),
            },
            "receivers": [
                {
                    "name": receiver,
                    "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
                }
            ],
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._requested_port = port
        self._port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "alertmanager.log"

    def start(self) -> "AlertmanagerServer":
        config_path = self.data_dir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(self._config))
        self._port = self._requested_port or free_port()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    ALERTMANAGER_BINARY,
                    f"--config.file={config_path}",
                    f"--storage.path={self.data_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self._port}",
                    f"--web.external-url={self.url}",
                    "--cluster.listen-address=",
                    "--log.level=info",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def cleanup(self) -> None:
        """Stop, and remove the data directory when this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "AlertmanagerServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AlertmanagerError(
                    f"alertmanager exited with {self._process.returncode}: {self._log_tail()}"
                )
            try:
                if requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise AlertmanagerError(
            f"alertmanager not ready within {self._ready_timeout:.0f}s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


def free_port() -> int:
    # Alertmanager cannot report the port it picked for :0, so take one the kernel just freed.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
