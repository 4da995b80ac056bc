"""A local stand-in for kubelet's ``/metrics/cadvisor``: per-container disk IO counters.

Tests set each container's rates with :meth:`CadvisorExporter.set_rates`; the four counters
(``container_fs_reads_total``, ``container_fs_writes_total`` and the ``_bytes_total`` twins)
then grow at those rates in real time, and Prometheus scrapes them like it scrapes a kubelet.
A rate change keeps every counter monotonic. A container may also carry a past
(``since=`` or ``history=``): the exporter's counters continue from where that past ends, and
:mod:`sandbox.history` writes the past as OpenMetrics for ``promtool`` to backfill, so a
test of ``for: 5m`` needs no five-minute wait.

The noise a real node serves, switched on per exporter: pod-level series (``container=""``,
the sum of the pod's containers), the pause container (``container="POD"``), the same
containers on a second, non-NVMe device, and "standalone cAdvisor" series that carry only
``id`` (the cgroup path, holding the pod UID) and ``name`` (the container ID).

``source`` serves counters read from elsewhere instead: the demo reads real cgroup counters.
What a container's series are (labels, rates, counters) is :mod:`sandbox.cadvisor_series`.
"""

import http.server
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from sandbox.cadvisor_series import (
    METRICS,
    PAUSE_IMAGE,
    PAUSE_WRITE_IOPS,
    ContainerSeries,
    Counters,
    Driver,
    Phase,
    QosClass,
    Rates,
    format_labels,
)

Sample = tuple[ContainerSeries, Counters]
Source = Callable[[], Iterable[Sample]]


@dataclass
class _Track:
    """One series' counters: ``counters`` at wall time ``at``, growing at ``rates``."""

    rates: Rates
    counters: Counters
    at: float
    history: tuple[Phase, ...] = field(default=())

    def now(self, when: float) -> Counters:
        return self.counters.advanced(self.rates, max(0.0, when - self.at))


class CadvisorExporter:
    """HTTP server on 127.0.0.1 (port 0: a free one) serving cAdvisor-format IO counters.

    ``pod_level``, ``pause`` and ``other_device`` switch on the noise a real kubelet serves:
    the other device's series mirror the NVMe rates, so a query without a device filter
    reads double. ``timestamps`` adds explicit sample timestamps, as kubelet does.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        pod_level: bool = False,
        pause: bool = False,
        other_device: str | None = None,
        timestamps: bool = False,
        source: Source | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pod_level = pod_level
        self._pause = pause
        self._other_device = other_device
        self._timestamps = timestamps
        self._source = source
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._tracks: dict[ContainerSeries, _Track] = {}
        self._scrapes = 0
        self._scraped = threading.Condition(self._lock)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        """``host:port``, what a Prometheus scrape config names as a target."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}/metrics/cadvisor"

    def start(self) -> "CadvisorExporter":
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="cadvisor-exporter", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "CadvisorExporter":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_rates(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        read_iops: float = 0.0,
        write_iops: float = 0.0,
        read_bps: float = 0.0,
        write_bps: float = 0.0,
        device: str = "/dev/nvme0n1",
        uid: str = "",
        cid: str = "",
        driver: Driver = "systemd",
        qos: QosClass = "burstable",
        standalone: bool = False,
        since: float = 0.0,
        history: Sequence[Phase] = (),
    ) -> ContainerSeries:
        """Set one container's rates from now on; returns its series identity.

        ``since`` says these rates already held for that many seconds; ``history`` (oldest
        first) gives a past made of several phases instead. Either becomes the container's
        past when it is first set; a later call only changes the rates from now on.
        """
        series = ContainerSeries(
            namespace,
            pod,
            container,
            device=device,
            uid=uid,
            cid=cid,
            driver=driver,
            qos=qos,
            standalone=standalone,
        )
        rates = Rates(read_iops, write_iops, read_bps, write_bps)
        past = tuple(history) or ((Phase(since, rates),) if since > 0 else ())
        self.set_series_rates(series, rates, history=past)
        return series

    def set_series_rates(
        self, series: ContainerSeries, rates: Rates, *, history: Sequence[Phase] = ()
    ) -> None:
        now = self._clock()
        with self._lock:
            track = self._tracks.get(series)
            if track is None:
                start = Counters()
                for phase in history:
                    start = start.advanced(phase.rates, phase.seconds)
                self._tracks[series] = _Track(rates, start, now, tuple(history))
            else:
                track.counters, track.at, track.rates = track.now(now), now, rates

    def remove(self, series: ContainerSeries) -> None:
        """Stop serving a container (it was deleted)."""
        with self._lock:
            self._tracks.pop(series, None)

    def pasts(self) -> list[tuple[ContainerSeries, tuple[Phase, ...], float]]:
        """Each served series with a past: (series, phases oldest first, wall time it ends).

        Includes its copy on ``other_device``; pod-level and pause series get no past (the
        query ignores them, and a pod-level past would have to sum its containers' pasts).
        """
        with self._lock:
            tracks = [(s, t.history, t.at) for s, t in self._tracks.items() if t.history]
        out: list[tuple[ContainerSeries, tuple[Phase, ...], float]] = []
        for series, phases, end in tracks:
            out.extend((noise, phases, end) for noise in self._mirrors(series))
        return out

    def samples(self) -> list[Sample]:
        """Every series as it would be scraped now."""
        now = self._clock()
        with self._lock:
            tracked = [(s, t.now(now)) for s, t in self._tracks.items()]
        sources = list(self._source()) if self._source is not None else []
        out: list[Sample] = []
        pods: dict[ContainerSeries, Counters] = {}
        for series, counters in tracked:
            for mirror in self._mirrors(series):
                out.append((mirror, counters))
            if self._pod_level and not series.standalone:
                pod = replace(series, container="", cid="", image="")
                pods[pod] = pods.get(pod, Counters()).plus(counters)
        if self._pause:
            pauses = {
                replace(s, container="POD", cid="", image=PAUSE_IMAGE)
                for s, _ in tracked
                if not s.standalone
            }
            running = Counters().advanced(Rates(write_iops=PAUSE_WRITE_IOPS), now - self._started)
            out.extend((pause, running) for pause in pauses)
        out.extend(pods.items())
        out.extend(sources)
        return out

    def _mirrors(self, series: ContainerSeries) -> list[ContainerSeries]:
        if self._other_device is None or series.device == self._other_device:
            return [series]
        return [series, replace(series, device=self._other_device)]

    @property
    def scrapes(self) -> int:
        with self._lock:
            return self._scrapes

    def wait_for_scrapes(self, count: int, timeout: float = 60.0) -> None:
        """Block until at least ``count`` scrapes have been served."""
        deadline = time.monotonic() + timeout
        with self._scraped:
            while self._scrapes < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._scrapes} scrapes of {self.url}, wanted {count}")
                self._scraped.wait(left)

    def render(self) -> bytes:
        """The scrape body, Prometheus text format 0.0.4."""
        samples = self.samples()
        suffix = f" {int(self._clock() * 1000)}" if self._timestamps else ""
        lines: list[str] = []
        for index, (name, help_text) in enumerate(METRICS):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} counter")
            for series, counters in samples:
                value = counters.values()[index]
                lines.append(f"{name}{{{format_labels(series.labels())}}} {value!r}{suffix}")
        with self._scraped:
            self._scrapes += 1
            self._scraped.notify_all()
        return ("\n".join(lines) + "\n").encode()


def _handler_for(exporter: CadvisorExporter) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        # Headers and body go out in two sends; with Nagle on, the body waits for a delayed ACK.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/metrics/cadvisor", "/metrics"):
                self.send_error(404)
                return
            body = exporter.render()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per scrape every second would drown the test output

    return Handler
