"""PrometheusSource against a real Prometheus scraping the cAdvisor-format exporter."""

import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from controller.prometheus import PrometheusError, PrometheusSource, rate_queries
from controller.rate_frames import HISTORY_COLUMNS, resolve_standalone
from sandbox.cadvisor_exporter import CadvisorExporter
from sandbox.cadvisor_series import Phase, Rates
from sandbox.prometheus import PrometheusServer, free_port
from tests.fixtures.prometheus import PrometheusFactory


def by_pod(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {
        row["pod"]: {c: row[c] for c in ("read_iops", "write_iops", "total_iops", "write_bps")}
        for _, row in frame.iterrows()
    }


class FrontServer:
    """A local HTTP server in front of Prometheus: records each request's headers and answers
    with the next scripted behaviour ("forward", an HTTP status, "slow", "garbage");
    when the script runs out it forwards."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.script: list[str | int] = []
        self.requests: list[dict[str, str]] = []
        self.slow_seconds = 5.0
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                front.requests.append({k.lower(): v for k, v in self.headers.items()})
                step = front.script.pop(0) if front.script else "forward"
                if isinstance(step, int):
                    self._reply(step, b'{"status":"error","error":"scripted"}')
                elif step == "slow":
                    time.sleep(front.slow_seconds)
                    self._reply(503, b"")
                elif step == "garbage":
                    self._reply(200, b"<html>login page</html>")
                else:
                    answer = requests.get(front.upstream + self.path, timeout=30)
                    self._reply(answer.status_code, answer.content)

            def _reply(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def busy_node(cadvisor_exporter: CadvisorExporter) -> CadvisorExporter:
    """Two containers with ten minutes of steady IO behind them."""
    cadvisor_exporter.set_rates(
        "shop", "noisy", "app", write_iops=2000, read_iops=40, write_bps=8e6, since=600
    )
    cadvisor_exporter.set_rates("shop", "quiet", "app", write_iops=5, since=600)
    return cadvisor_exporter


def test_current_reads_each_containers_rates(
    busy_node: CadvisorExporter, prometheus: PrometheusFactory
) -> None:
    server = prometheus(busy_node)
    with PrometheusSource(server.url) as source:
        frame = source.current(time.time())
    assert sorted(frame["pod"]) == ["noisy", "quiet"]
    rates = by_pod(frame)
    assert rates["noisy"]["write_iops"] == pytest.approx(2000, rel=0.05)
    assert rates["noisy"]["read_iops"] == pytest.approx(40, rel=0.05)
    assert rates["noisy"]["total_iops"] == pytest.approx(2040, rel=0.05)
    assert rates["noisy"]["write_bps"] == pytest.approx(8e6, rel=0.05)
    assert rates["quiet"]["write_iops"] == pytest.approx(5, rel=0.05)
    assert set(frame["namespace"]) == {"shop"} and set(frame["container"]) == {"app"}
    assert list(frame["node"]) == ["", ""]


def test_other_devices_pod_level_and_pause_series_are_ignored(
    prometheus: PrometheusFactory,
) -> None:
    with CadvisorExporter(pod_level=True, pause=True, other_device="/dev/sda") as exporter:
        exporter.set_rates("shop", "web", "app", write_iops=300, since=300)
        exporter.set_rates("shop", "web", "sidecar", write_iops=100, since=300)
        server = prometheus(exporter)
        exporter.wait_for_scrapes(2)  # the pause and pod-level series have no backfill
        with PrometheusSource(server.url) as source:
            frame = source.current(time.time())
        with PrometheusSource(server.url, device_regex="/dev/sd[a-z]") as sda_only:
            on_sda = sda_only.current(time.time())
    assert sorted(frame["container"]) == ["app", "sidecar"]
    writes = dict(zip(frame["container"], frame["write_iops"], strict=True))
    assert writes["app"] == pytest.approx(300, rel=0.05)
    assert writes["sidecar"] == pytest.approx(100, rel=0.05)
    assert sorted(on_sda["container"]) == ["app", "sidecar"]


def test_a_target_scraped_by_two_jobs_is_not_double_counted(
    busy_node: CadvisorExporter, prometheus: PrometheusFactory
) -> None:
    server = prometheus({"kubelet": [busy_node], "cadvisor": [busy_node]})
    with PrometheusSource(server.url) as source:
        frame = source.current(time.time())
    assert len(frame) == 2
    assert by_pod(frame)["noisy"]["write_iops"] == pytest.approx(2000, rel=0.05)


def test_standalone_series_come_back_with_pod_uid_for_both_cgroup_drivers(
    prometheus: PrometheusFactory,
) -> None:
    with CadvisorExporter() as exporter:
        systemd = exporter.set_rates(
            "shop", "a", "app", write_iops=700, standalone=True, driver="systemd", since=300
        )
        cgroupfs = exporter.set_rates(
            "shop", "b", "app", write_iops=900, standalone=True, driver="cgroupfs", since=300
        )
        server = prometheus(exporter)
        with PrometheusSource(server.url) as source:
            frame = source.current(time.time())
    assert set(frame["namespace"]) == {""} and set(frame["pod"]) == {""}
    keys = zip(frame["uid"], frame["container_id"], strict=True)
    writes = dict(zip(keys, frame["write_iops"], strict=True))
    assert writes.keys() == {(systemd.uid, systemd.cid), (cgroupfs.uid, cgroupfs.cid)}
    assert writes[(systemd.uid, systemd.cid)] == pytest.approx(700, rel=0.05)
    assert writes[(cgroupfs.uid, cgroupfs.cid)] == pytest.approx(900, rel=0.05)


def test_resolve_standalone_maps_uids_to_pods_and_counts_a_container_once() -> None:
    frame = pd.DataFrame(
        {
            "namespace": ["shop", "", "", ""],
            "pod": ["a", "", "", ""],
            "container": ["app", "", "", ""],
            "uid": ["", "uid-a", "uid-b", "uid-c"],
            "container_id": ["", "cid-a", "cid-b", "pause"],
            "write_iops": [10.0, 10.0, 20.0, 1.0],
        }
    )
    known = {("uid-a", "cid-a"): ("shop", "a", "app"), ("uid-b", "cid-b"): ("shop", "b", "db")}
    out = resolve_standalone(frame, known)
    assert sorted(zip(out["pod"], out["container"], out["write_iops"], strict=True)) == [
        ("a", "app", 10.0),
        ("b", "db", 20.0),
    ]


def test_history_covers_the_window_in_steps_ending_at_now(
    cadvisor_exporter: CadvisorExporter, prometheus: PrometheusFactory
) -> None:
    cadvisor_exporter.set_rates(
        "shop",
        "burst",
        "app",
        write_iops=10,
        history=[Phase(300, Rates(write_iops=3000)), Phase(300, Rates(write_iops=10))],
    )
    server = prometheus(cadvisor_exporter)
    now = time.time()
    with PrometheusSource(server.url) as source:
        history = source.history(480, 30, now)
    assert list(history.columns) == HISTORY_COLUMNS
    times = sorted(set(history["time"]))
    assert times[-1] == pytest.approx(now, abs=0.001)
    assert times[0] == pytest.approx(now - 480, abs=0.001)
    assert len(times) == 17 and len(history) == 17
    writes = history.set_index("time")["write_iops"]
    assert writes[times[0]] == pytest.approx(3000, rel=0.05)  # 8 min ago: still bursting
    assert writes[times[-1]] == pytest.approx(10, rel=0.05)


def test_url_with_a_path_prefix(busy_node: CadvisorExporter, prometheus: PrometheusFactory) -> None:
    server = prometheus(busy_node, route_prefix="/monitoring/prometheus")
    with PrometheusSource(server.url + "/") as source:
        frame = source.current(time.time())
    assert len(frame) == 2


@pytest.fixture
def front(busy_node: CadvisorExporter, prometheus: PrometheusFactory) -> Iterator[FrontServer]:
    server = prometheus(busy_node)
    front = FrontServer(server.url)
    yield front
    front.close()


def test_bearer_token_is_reread_on_every_query_and_headers_are_sent(
    front: FrontServer, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("first-token\n")
    source = PrometheusSource(
        front.url, token_file=token, headers=[("X-Scope-OrgID", "team-a")], retries=0
    )
    source.current(time.time())
    token.write_text("rotated-token")
    source.current(time.time())
    tokens = [r.get("authorization") for r in front.requests]
    assert tokens == ["Bearer first-token"] * 4 + ["Bearer rotated-token"] * 4
    assert {r.get("x-scope-orgid") for r in front.requests} == {"team-a"}


def test_5xx_answers_are_retried(front: FrontServer) -> None:
    front.script = [503, 502]
    source = PrometheusSource(front.url, retries=2, backoff=0.01)
    frame = source.current(time.time())
    assert len(frame) == 2
    assert len(front.requests) == 2 + 4


def test_persistent_5xx_raises_prometheus_error_naming_the_query(
    front: FrontServer, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token")
    front.script = [500] * 12
    source = PrometheusSource(front.url, token_file=token, retries=2, backoff=0.01)
    with pytest.raises(PrometheusError) as caught:
        source.current(time.time())
    assert len(front.requests) == 4 * 3  # four metrics, each tried three times
    assert "read_iops" in str(caught.value) and "container_fs_reads_total" in str(caught.value)
    assert caught.value.query == source.queries["read_iops"]
    assert "too many 500 error responses" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_a_slow_answer_times_out_and_raises(front: FrontServer) -> None:
    front.script = ["slow"] * 8
    front.slow_seconds = 3
    source = PrometheusSource(front.url, timeout=1, retries=1, backoff=0.01)
    with pytest.raises(PrometheusError, match=r"read_iops.*timed out"):
        source.current(time.time())
    assert len(front.requests) == 4 * 2


def test_an_answer_that_is_not_json_raises(front: FrontServer) -> None:
    front.script = ["garbage"]
    with pytest.raises(PrometheusError, match="unreadable answer"):
        PrometheusSource(front.url, retries=0).current(time.time())


def test_a_bad_query_answer_raises(front: FrontServer) -> None:
    front.script = [400] * 4
    with pytest.raises(PrometheusError, match="400"):
        PrometheusSource(front.url, retries=3, backoff=0.01).current(time.time())
    assert len(front.requests) == 4  # a 4xx is not worth retrying


def test_range_query_returns_the_matrix_and_raises_on_a_failed_or_unreadable_answer(
    front: FrontServer,
) -> None:
    source = PrometheusSource(front.url, retries=0)
    now = time.time()
    (series,) = source.range_query("vector(1)", now - 10, now, 5)
    assert [value for _, value in series["values"]] == ["1", "1", "1"]
    front.script = [400, "garbage"]
    with pytest.raises(PrometheusError, match=r"scripted.*\(query: vector\(1\)\)"):
        source.range_query("vector(1)", now - 10, now, 5)
    with pytest.raises(PrometheusError, match="not JSON"):
        source.range_query("vector(1)", now - 10, now, 5)


def test_prometheus_down_raises(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PrometheusError, match="ConnectionError"):
        PrometheusSource(url, retries=1, backoff=0.01).current(time.time())
    with pytest.raises(PrometheusError, match="token file"):
        PrometheusSource(url, token_file=tmp_path / "missing").current(time.time())


def test_prometheus_stopped_mid_run_raises_then_recovers_after_restart(
    busy_node: CadvisorExporter, prometheus: PrometheusFactory
) -> None:
    server: PrometheusServer = prometheus(busy_node)
    source = PrometheusSource(server.url, retries=0)
    assert len(source.current(time.time())) == 2
    server.stop()
    with pytest.raises(PrometheusError):
        source.current(time.time())
    server.start()
    assert len(source.current(time.time())) == 2


def test_device_regex_is_quoted_into_the_query() -> None:
    queries = rate_queries(90, 'nvme\\d+n1|"odd"')
    assert '{device=~"nvme\\\\d+n1|\\"odd\\"",' in queries["write_iops"]
    assert "[1m30s]" in queries["write_iops"]
    with pytest.raises(ValueError, match="device regex"):
        PrometheusSource("http://127.0.0.1:1", device_regex="(")


def test_empty_answers_give_empty_frames_with_the_contract_columns(
    cadvisor_exporter: CadvisorExporter, prometheus: PrometheusFactory
) -> None:
    server = prometheus(cadvisor_exporter)
    with PrometheusSource(server.url) as source:
        current = source.current(time.time())
        history = source.history(60, 30, time.time())
    assert current.empty and history.empty
    assert list(history.columns) == HISTORY_COLUMNS
    assert current["write_iops"].dtype == float and history["time"].dtype == float


def test_current_is_evaluated_at_the_given_time(
    busy_node: CadvisorExporter, prometheus: PrometheusFactory
) -> None:
    server = prometheus(busy_node)
    long_ago = time.time() - 3 * 3600
    with PrometheusSource(server.url) as source:
        assert source.current(long_ago).empty
        assert len(source.current(time.time())) == 2


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verified_with_the_ca_file_refused_without_it_or_skipped_on_request(
    busy_node: CadvisorExporter, prometheus: PrometheusFactory, self_signed: tuple[Path, Path]
) -> None:
    server = prometheus(busy_node, tls=self_signed)
    assert server.url.startswith("https://")
    with PrometheusSource(server.url, ca_file=self_signed[0]) as trusted:
        assert len(trusted.current(time.time())) == 2
    with (
        PrometheusSource(server.url, retries=0) as untrusted,
        pytest.raises(PrometheusError, match=r"SSLError|CERTIFICATE_VERIFY_FAILED"),
    ):
        untrusted.current(time.time())
    with PrometheusSource(server.url, skip_verify=True) as unchecked:
        assert len(unchecked.current(time.time())) == 2
