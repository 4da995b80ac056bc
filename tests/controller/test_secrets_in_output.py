"""Credentials in settings never reach logs, error messages or the command line's stderr."""

import argparse
import http.server
import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.commands import run
from controller.prometheus import PrometheusError, PrometheusSource
from controller.settings import add_settings_arguments

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pa55-in-url"
TENANT = "tenant-secret-42"
TOKEN = "bearer-token-77"
SECRETS = (PASSWORD, TENANT, TOKEN)


class EchoingProxy:
    """Answers every request 401 with the request's path and headers in the body, as some
    auth proxies' error pages do: whatever quotes the body must still hide the credentials."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                # Headers first: error texts are clipped, the echo must fall inside the clip.
                body = json.dumps({"headers": dict(self.headers), "path": self.path}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy() -> Iterator[EchoingProxy]:
    server = EchoingProxy()
    yield server
    server.close()


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """``run`` installs SIGTERM/SIGINT handlers; the test process gets its own back."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    return path


def test_a_prometheus_error_quoting_the_request_hides_url_user_info_token_and_headers(
    proxy: EchoingProxy, token_file: Path
) -> None:
    source = PrometheusSource(
        proxy.url(f"user:{PASSWORD}@"),
        token_file=token_file,
        headers=[("X-Scope-OrgID", TENANT)],
        retries=0,
    )
    with pytest.raises(PrometheusError) as caught:
        source.current(0.0)
    message = str(caught.value)
    assert "401" in message  # the answer is still quoted, only the secrets are gone
    for secret in SECRETS:
        assert secret not in message


@pytest.mark.usefixtures("signal_handlers")
def test_run_logs_its_settings_at_start_with_every_secret_masked(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    args = parser.parse_args(
        [
            "--prometheus-url",
            f"http://user:{PASSWORD}@127.0.0.1:9/prefix",
            "--prometheus-headers",
            f"X-Scope-OrgID={TENANT},Authorization=Bearer {TOKEN}",
            "--alertmanager-url",
            f"http://am:{PASSWORD}@127.0.0.1:9093,http://127.0.0.1:9094",
            "--rules-path",
            str(tmp_path / "missing"),  # start-up stops right after the settings are logged
        ]
    )
    with caplog.at_level(logging.INFO):
        assert run.main(args) == 1
    shown = {r.getMessage() for r in caplog.records if r.getMessage().startswith("setting ")}
    assert "setting PROMETHEUS_URL=http://***@127.0.0.1:9/prefix" in shown
    assert "setting PROMETHEUS_HEADERS=X-Scope-OrgID=***,Authorization=***" in shown
    assert "setting ALERTMANAGER_URL=http://***@127.0.0.1:9093,http://127.0.0.1:9094" in shown
    for secret in SECRETS:
        assert secret not in caplog.text


def test_once_failing_on_prometheus_prints_no_secret_on_stderr(
    proxy: EchoingProxy, token_file: Path, kubeconfig: Path
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller",
            "once",
            "--dry-run",
            "--prometheus-url",
            proxy.url(f"user:{PASSWORD}@"),
            "--prometheus-token-file",
            str(token_file),
            "--prometheus-headers",
            f"X-Scope-OrgID={TENANT}",
            "--rules-path",
            str(ROOT / "rules" / "default.yaml"),
            "--kubeconfig",
            str(kubeconfig),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Prometheus failed" in done.stderr and "401" in done.stderr
    for secret in SECRETS:
        assert secret not in done.stderr + done.stdout


def test_a_malformed_header_setting_is_refused_without_quoting_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "controller", "watch", "--prometheus-headers", f"Bearer {TOKEN}"],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert "PROMETHEUS_HEADERS / --prometheus-headers" in done.stderr
    assert TOKEN not in done.stderr


def test_report_with_an_unusable_prometheus_url_prints_no_secret_on_stderr(
    kubeconfig: Path,
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller",
            "report",
            "--prometheus-url",
            f"http://user:{PASSWORD}@127.0.0.1:99999",  # a port requests refuses to parse
            "--rules-path",
            str(ROOT / "rules" / "default.yaml"),
            "--kubeconfig",
            str(kubeconfig),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # limits in force only, Prometheus' part logged
    assert "InvalidURL" in done.stderr and "http://***@127.0.0.1:99999" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout
