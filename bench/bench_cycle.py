"""A full controller cycle at 1k, 10k and 100k containers against a real Prometheus.

    python -m bench.bench_cycle [COUNT ...]      # default: 1000 10000 100000

Per size: a real Prometheus preloaded with 15 minutes of steady history at a 30 s step, plus
the steady cycles' 90 s (``sandbox.prometheus.synthetic_prometheus``: every 100th container
writes 5000 IOPS), the fake Kubernetes API with one pod per container in a separate process (so
the controller's memory is measured alone), and the real controller parts: pod cache (listed in
client-go's pages of 500, as the controller lists), PrometheusSource, engine, annotator. Cycles
run on the synthetic clock, 30 s apart, all inside the loaded data:

- cycle 1: a fresh controller (history seeded from Prometheus) limits the noisy containers;
- cycles 2-4: steady state, from memory; they must write nothing.

Next to each steady cycle, the raw PromQL time at the same moment: the four rate queries, sent
in parallel as the source sends them, answers not parsed, timed in a process of its own
(its downloads are not the controller's memory). Memory is this process's peak
resident size (Linux ``VmHWM``, what ``getrusage`` reports as ``ru_maxrss``), reset between the
phases: ``start_rss_mb`` up to the end of the start-up pod list, ``first_rss_mb`` over the
first cycle (history seeded from Prometheus), ``steady_rss_mb`` over the steady cycles;
``rss_mb`` is the largest, the whole controller side's peak. Run one size per process for a
``start_rss_mb`` of that size alone (a process's earlier sizes count in it).
"""

import contextlib
import json
import multiprocessing
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import prometheus_client
import requests

from controller.annotator import Annotator
from controller.cycle import Cycle, CycleConfig
from controller.engine import EngineOptions, evaluate
from controller.kubeapi import KubeApi
from controller.memory import tune_malloc
from controller.metrics import ControllerMetrics
from controller.pods import PodCache
from controller.prometheus import PrometheusError, PrometheusSource
from controller.ratelimit import TokenBucket
from controller.rule_files import load_rules
from iops_limit.kube import load_api_client
from sandbox.history import synthetic_containers
from sandbox.prometheus import synthetic_prometheus

SIZES = (1_000, 10_000, 100_000)
INTERVAL = 30.0
STEADY_CYCLES = 3
RULES = """\
groups:
  - name: noisy
    rules:
      - name: writer
        expr: write_iops > 1000
        for: 5m
        limit: {write_iops: 500}
"""


def serve_fake_kube(count: int, kubeconfig: str, ready: Connection) -> None:
    """The fake API with one pod per synthetic container; runs in its own process."""
    from sandbox.fake_kube import FakeKube

    with FakeKube() as kube:
        kube.add_node("node-a")
        for series, _ in synthetic_containers(count):
            kube.add_pod(
                kube.make_pod(
                    series.namespace,
                    series.pod,
                    "node-a",
                    containers=[{"name": series.container, "image": series.image}],
                    labels={"app": "bench", "tier": "web"},
                    uid=series.uid,
                    container_ids={series.container: series.cid},
                )
            )
        kube.write_kubeconfig(kubeconfig)
        ready.send("ready")
        ready.recv()  # until the bench says stop


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def raw_queries(url: str, queries: list[str], at: float) -> int:
    """The four instant queries in parallel, bytes only; returns the answers' total size."""

    def one(query: str) -> int:
        answer = requests.get(
            f"{url}/api/v1/query", params={"query": query, "time": f"{at:.3f}"}, timeout=600
        )
        answer.raise_for_status()
        return len(answer.content)

    with ThreadPoolExecutor(len(queries)) as pool:
        return sum(pool.map(one, queries))


def serve_raw_queries(url: str, queries: list[str], channel: Connection) -> None:
    """Times the raw queries at each moment it is sent, until None; runs in its own process,
    so their downloads stay out of the controller's memory figures."""
    while (at := channel.recv()) is not None:
        start = time.perf_counter()
        size = raw_queries(url, queries, at)
        channel.send((time.perf_counter() - start, size))


RawTimer = Callable[[float], tuple[float, int]]


@contextlib.contextmanager
def raw_timer(url: str) -> Iterator[RawTimer]:
    """``at -> (seconds, bytes)`` of the source's four queries, measured in another process."""
    with PrometheusSource(url) as probe:
        queries = list(probe.queries.values())
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve_raw_queries, args=(url, queries, theirs))
    process.start()

    def measure(at: float) -> tuple[float, int]:
        ours.send(at)
        seconds, size = ours.recv()
        return float(seconds), int(size)

    try:
        yield measure
    finally:
        ours.send(None)
        process.join(timeout=60)


def peak_rss_mb() -> float:
    """Peak resident memory since the last reset (Linux VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Start the peak over: the start-up list is not what a cycle costs."""
    Path("/proc/self/clear_refs").write_text("5")


def measure(count: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-cycle-"))
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    kubeconfig = work / "kubeconfig"
    fake = context.Process(target=serve_fake_kube, args=(count, str(kubeconfig), theirs))
    fake.start()
    # The data ends where the last steady cycle queries: no cycle reads past it.
    server, data_end = synthetic_prometheus(
        count, seconds=900.0 + STEADY_CYCLES * INTERVAL, step=INTERVAL
    )
    end = data_end - STEADY_CYCLES * INTERVAL
    try:
        server.start()
        if not ours.poll(1800):
            raise SystemExit("the fake API did not come up")
        ours.recv()
        (work / "rules.yaml").write_text(RULES)
        with raw_timer(server.url) as raw:
            return run_cycles(count, server.url, end, kubeconfig, work / "rules.yaml", raw_at=raw)
    finally:
        server.close()
        if fake.is_alive():
            ours.send("stop")
            fake.join(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def run_cycles(
    count: int, url: str, end: float, kubeconfig: Path, rules_path: Path, *, raw_at: RawTimer
) -> dict[str, float]:
    figures: dict[str, float] = {"containers": count}
    tune_malloc()  # as ``iops-controller run`` does at start
    registry = prometheus_client.CollectorRegistry()
    metrics = ControllerMetrics(registry)
    api = KubeApi(load_api_client(str(kubeconfig)), TokenBucket(1000, 2000))
    cache = PodCache(api)
    figures["pod_list_s"] = timed(cache.sync)[0]
    figures["start_rss_mb"] = peak_rss_mb()
    reset_peak_rss()
    source = PrometheusSource(url, timeout=600, retries=0)
    raw_at(end)  # warm Prometheus' caches, as bench_query does
    clock = [end]
    rules = load_rules(rules_path)
    cycle = Cycle(
        config=CycleConfig(INTERVAL, False, (), (PrometheusError,)),
        source=source,
        pods=cache,
        annotator=Annotator(api, cache, metrics, lambda: True),
        rules=lambda: rules,
        evaluate=evaluate,
        options=EngineOptions(interval=INTERVAL),
        metrics=metrics,
        clock=lambda: clock[0],
    )

    def writes() -> float:
        return sum(
            registry.get_sample_value("iops_limit_kube_api_writes_total", {"kind": kind}) or 0
            for kind in ("patch", "event")
        )

    figures["first_cycle_s"], result = timed(cycle.run)
    figures["first_rss_mb"] = peak_rss_mb()
    reset_peak_rss()
    figures["first_writes"] = writes()
    figures["limited"] = sum(1 for a in result.applied if a.owner == "controller")
    steady, raw = [], []
    for step in range(1, STEADY_CYCLES + 1):
        clock[0] = end + step * INTERVAL
        raw_time, size = raw_at(clock[0])
        raw.append(raw_time)
        before = writes()
        cycle_time, result = timed(cycle.run)
        steady.append(cycle_time)
        if result is None or writes() != before:
            raise SystemExit(f"steady cycle {step} failed or wrote to the API")
        figures["json_mb"] = size / 1e6
    figures["steady_writes"] = 0
    figures["raw_s"] = statistics.median(raw)
    figures["cycle_s"] = statistics.median(steady)
    figures["ratio"] = figures["cycle_s"] / figures["raw_s"]
    figures["current_s"] = timed(lambda: source.current(clock[0]))[0]
    figures["steady_rss_mb"] = peak_rss_mb()
    figures["rss_mb"] = max(
        figures[name] for name in ("start_rss_mb", "first_rss_mb", "steady_rss_mb")
    )
    source.close()
    return figures


COLUMNS = [
    ("containers", "{:.0f}"),
    ("pod_list_s", "{:.1f}"),
    ("first_cycle_s", "{:.2f}"),
    ("first_writes", "{:.0f}"),
    ("limited", "{:.0f}"),
    ("raw_s", "{:.3f}"),
    ("cycle_s", "{:.3f}"),
    ("ratio", "{:.2f}"),
    ("steady_writes", "{:.0f}"),
    ("current_s", "{:.3f}"),
    ("json_mb", "{:.1f}"),
    ("start_rss_mb", "{:.0f}"),
    ("first_rss_mb", "{:.0f}"),
    ("steady_rss_mb", "{:.0f}"),
    ("rss_mb", "{:.0f}"),
]


def main(argv: list[str]) -> None:
    sizes = [int(arg) for arg in argv] or list(SIZES)
    print(" | ".join(name for name, _ in COLUMNS), flush=True)
    for count in sizes:
        figures = measure(count)
        print(" | ".join(fmt.format(figures[name]) for name, fmt in COLUMNS), flush=True)
        print(json.dumps(figures), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
