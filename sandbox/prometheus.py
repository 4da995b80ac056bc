"""A real Prometheus (``/usr/bin/prometheus``) on a free loopback port, for tests and benchmarks.

It scrapes the given targets every ``scrape_interval``, keeps its TSDB in ``data_dir`` (a
temporary directory unless given, so a restart on the same directory keeps the data, as an
outage test needs) and can be preloaded with history through ``promtool tsdb
create-blocks-from openmetrics`` before it starts.
"""

import io
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from iops_limit.durations import parse_duration
from sandbox.cadvisor_exporter import CadvisorExporter
from sandbox.history import Target, synthetic_containers, write_openmetrics, write_synthetic

log = logging.getLogger(__name__)

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
DEFAULT_JOB = "cadvisor"


class PrometheusServerError(RuntimeError):
    """Prometheus or promtool failed to start, become ready, or backfill."""


def free_port() -> int:
    """A loopback port free right now (the OS picks it; Prometheus cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """One Prometheus process.

    ``targets`` is a list of ``host:port`` scraped under the job ``cadvisor``, or a mapping
    job name -> targets (the same target under two jobs serves the same series twice, with
    different ``job`` labels). ``route_prefix`` serves the API under a path, as behind a
    reverse proxy (``--web.external-url``); :attr:`url` includes it. ``tls`` (certificate
    file, key file) serves HTTPS with a self-signed certificate.
    """

    def __init__(
        self,
        targets: Sequence[str] | Mapping[str, Sequence[str]] = (),
        *,
        scrape_interval: str = "1s",
        data_dir: Path | None = None,
        backfill: Path | None = None,
        route_prefix: str = "",
        metrics_path: str = "/metrics/cadvisor",
        tls: tuple[Path, Path] | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 60.0,
    ) -> None:
        self.jobs: dict[str, tuple[str, ...]] = (
            {job: tuple(addresses) for job, addresses in targets.items()}
            if isinstance(targets, Mapping)
            else ({DEFAULT_JOB: tuple(targets)} if targets else {})
        )
        self.scrape_interval = scrape_interval
        # Config, log and backfill input live here; the TSDB too unless data_dir is given.
        self.work_dir = Path(tempfile.mkdtemp(prefix="prometheus-"))
        self.data_dir = self.work_dir / "data" if data_dir is None else data_dir
        self.route_prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self._metrics_path = metrics_path
        # Jobs scraping something other than an exporter (the controller's /metrics).
        self.job_metrics_paths: dict[str, str] = {}
        self._extra_args = tuple(extra_args)
        self._tls = tls
        self._ready_timeout = ready_timeout
        self._pending_backfill = backfill
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = self.work_dir / "prometheus.log"

    @property
    def url(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.route_prefix}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def config_text(self) -> str:
        """prometheus.yml: one scrape job per entry of :attr:`jobs`."""
        if not self.jobs:
            return f"global:\n  scrape_interval: {self.scrape_interval}\nscrape_configs: []\n"
        lines = ["global:", f"  scrape_interval: {self.scrape_interval}", "scrape_configs:"]
        for job, addresses in self.jobs.items():
            quoted = ", ".join(f'"{address}"' for address in addresses)
            lines += [
                f'  - job_name: "{job}"',
                f'    metrics_path: "{self.job_metrics_paths.get(job, self._metrics_path)}"',
                f"    static_configs: [{{targets: [{quoted}]}}]",
            ]
        return "\n".join(lines) + "\n"

    def backfill_openmetrics(self, source: Path | str) -> None:
        """Turn OpenMetrics text (a file, or the text itself) into TSDB blocks in the data dir.

        Only while stopped: Prometheus loads blocks at start-up.
        """
        if self.running:
            raise PrometheusServerError("backfill needs Prometheus stopped")
        if isinstance(source, str):
            path = self.work_dir / "backfill.om"
            path.write_text(source)
        else:
            path = source
        self.data_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                PROMTOOL,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "-q",
                str(path),
                str(self.data_dir),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise PrometheusServerError(
                f"promtool backfill of {path} failed ({result.returncode}): {result.stderr[-2000:]}"
            )
        if path != source:
            path.unlink()  # the text we wrote; kept above only to debug a failed backfill

    def start(self) -> "PrometheusServer":
        """Start and wait until ``/-/ready`` answers; a port taken meanwhile gets a new one."""
        if self.running:
            return self
        if self._pending_backfill is not None:
            self.backfill_openmetrics(self._pending_backfill)
            self._pending_backfill = None
        config = self.work_dir / "prometheus.yml"
        config.write_text(self.config_text())
        for _ in range(3):
            self._launch(config)
            if self._wait_ready():
                log.info("prometheus ready at %s", self.url)
                return self
            self._halt()
            if "address already in use" not in self.log_tail():
                break
            self.port = free_port()
        raise PrometheusServerError(f"prometheus did not become ready: {self.log_tail()}")

    def _launch(self, config: Path) -> None:
        args = [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=30d",
            *self._extra_args,
        ]
        if self.route_prefix:
            args.append(f"--web.external-url={self.url}")
        if self._tls is not None:
            cert, key = self._tls
            web_config = self.work_dir / "web.yml"
            web_config.write_text(
                f'tls_server_config: {{cert_file: "{cert}", key_file: "{key}"}}\n'
            )
            args.append(f"--web.config.file={web_config}")
        with self._log_path.open("ab") as out:
            self._process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if not self.running:
                return False
            try:
                verify = str(self._tls[0]) if self._tls else True
                ready = requests.get(f"{self.url}/-/ready", timeout=2, verify=verify)
                if ready.status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate (SIGTERM flushes the head), then kill after ``timeout``. Data stays."""
        self._halt(timeout)

    def _halt(self, timeout: float = 20.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> "PrometheusServer":
        """Stop and start again on the same port and data directory."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and remove what this object created (a data dir it was given stays)."""
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> "PrometheusServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


Exporters = CadvisorExporter | Sequence[CadvisorExporter] | Mapping[str, Sequence[CadvisorExporter]]


def scraping(exporters: Exporters, *, backfill: bool = True, **options: Any) -> PrometheusServer:
    """A Prometheus (not started yet) scraping these exporters every scrape interval.

    One exporter or a list scrape under the job ``cadvisor``; a mapping job -> exporters
    names the jobs (an exporter under two jobs is scraped twice). With ``backfill``, every
    past the exporters carry (``set_rates(since=...)``) is preloaded at one sample per scrape
    interval, labelled as the scrapes will be, so ``rate()`` and ``for`` windows hold from the
    first query. Further ``options`` go to :class:`PrometheusServer`.
    """
    if isinstance(exporters, CadvisorExporter):
        exporters = [exporters]
    jobs = exporters if isinstance(exporters, Mapping) else {DEFAULT_JOB: exporters}
    server = PrometheusServer(
        {job: [exporter.address for exporter in members] for job, members in jobs.items()},
        **options,
    )
    try:
        if backfill:
            _backfill_pasts(server, jobs)
    except BaseException:
        server.close()
        raise
    return server


def _backfill_pasts(
    server: PrometheusServer, jobs: Mapping[str, Sequence[CadvisorExporter]]
) -> None:
    step = parse_duration(server.scrape_interval)
    pasts = [
        (past, Target(job, exporter.address))
        for job, members in jobs.items()
        for exporter in members
        for past in exporter.pasts()
    ]
    text = io.StringIO()
    if write_openmetrics(text, pasts, step=step):
        server.backfill_openmetrics(text.getvalue())


def synthetic_prometheus(
    count: int,
    *,
    seconds: float = 600.0,
    step: float = 30.0,
    end: float | None = None,
    **options: Any,
) -> tuple[PrometheusServer, float]:
    """A Prometheus (not started, scraping nothing) preloaded with ``seconds`` of steady
    history for :func:`~sandbox.history.synthetic_containers` ``(count)``, one sample per
    ``step``, ending at ``end`` (default: now). Returns the server and that end time, the
    moment to query at. For benchmarks: 100k containers take about a minute to load.
    """
    end = time.time() if end is None else end
    server = PrometheusServer((), **options)
    try:
        path = server.work_dir / "synthetic.om"
        with path.open("w") as out:
            write_synthetic(
                out,
                synthetic_containers(count),
                seconds=seconds,
                step=step,
                end=end,
                target=Target(DEFAULT_JOB, "127.0.0.1:10250"),
            )
        server.backfill_openmetrics(path)
        path.unlink()
    except BaseException:
        server.close()
        raise
    return server, end
