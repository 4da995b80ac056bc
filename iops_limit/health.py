"""The small HTTP server both programs run: ``/metrics``, ``/healthz`` and ``/readyz``."""

import http.server
import logging
import threading
from collections.abc import Callable

import prometheus_client

log = logging.getLogger(__name__)


class HealthServer:
    """Serves one registry's metrics and the program's liveness and readiness.

    ``ready`` is asked on every ``/readyz``; it returns ``(ready, why)``. Port 0 picks a free
    port (see :attr:`port`), which is what tests use.
    """

    def __init__(
        self,
        registry: prometheus_client.CollectorRegistry,
        ready: Callable[[], tuple[bool, str]],
        port: int,
        host: str = "0.0.0.0",
    ) -> None:
        handler = _handler_for(registry, ready)
        self._server = http.server.ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("serving /metrics, /healthz, /readyz on port %d", self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(
    registry: prometheus_client.CollectorRegistry, ready: Callable[[], tuple[bool, str]]
) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(
                    200,
                    prometheus_client.generate_latest(registry),
                    prometheus_client.CONTENT_TYPE_LATEST,
                )
            elif path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                is_ready, why = ready()
                self._send(200 if is_ready else 503, (why or "ok").encode() + b"\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("health server: " + format, *args)

    return Handler
