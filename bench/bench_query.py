"""Prometheus query cost at 1k, 10k and 100k containers: raw PromQL vs. PrometheusSource.

    python -m bench.bench_query [COUNT ...]      # default: 1000 10000 100000

For each size a real Prometheus is preloaded (promtool backfill) with 10 minutes of steady
history at a 30 s step and queried at the end of that history. Figures per size:

- raw: one metric's instant query (HTTP round trip, answer not parsed), and its JSON size;
- raw4: the four metrics' instant queries, in parallel as PrometheusSource runs them, unparsed
  (the raw PromQL cost of one cycle; ``current / raw4`` is what the edge adds);
- parse / build: ``json.loads`` of that answer, and building the current frame from the
  four parsed answers (what PrometheusSource adds on top of the raw queries);
- current: ``PrometheusSource.current()`` end to end (four queries, parse, frame);
- history: ``PrometheusSource.history(5m, 30s)`` end to end, and the raw range query of one
  metric for comparison;
- min_over_time: the raw ``min_over_time((rate query)[5m:30s])`` subquery, the cheaper
  restart fallback DESIGN.md mentions (a quarter of the JSON; one value per container);
- load_avg: the machine's 1-minute load average when the size finished (2 cores, shared).
"""

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from controller.prometheus import PrometheusSource
from controller.rate_frames import build_current
from sandbox.prometheus import synthetic_prometheus

SIZES = (1_000, 10_000, 100_000)
REPEATS = 3


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def median_time(action: Callable[[], Any], repeats: int = REPEATS) -> float:
    return statistics.median(timed(action)[0] for _ in range(repeats))


def raw_query(url: str, query: str, at: float) -> bytes:
    answer = requests.get(
        f"{url}/api/v1/query", params={"query": query, "time": f"{at:.3f}"}, timeout=600
    )
    answer.raise_for_status()
    return answer.content


def raw_range(url: str, query: str, start: float, end: float, step: float) -> bytes:
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    answer = requests.get(f"{url}/api/v1/query_range", params=params, timeout=600)
    answer.raise_for_status()
    return answer.content


def measure(count: int) -> dict[str, float]:
    figures: dict[str, float] = {"containers": count}
    load, (server, end) = timed(lambda: synthetic_prometheus(count))
    figures["backfill_s"] = load
    try:
        figures["start_s"] = timed(server.start)[0]
        source = PrometheusSource(server.url, timeout=600, retries=0)
        query = source.queries["write_iops"]
        raw_query(server.url, query, end)  # warm the page cache and Prometheus' postings
        figures["raw_s"] = median_time(lambda: raw_query(server.url, query, end))

        def raw_all() -> list[bytes]:
            with ThreadPoolExecutor(len(source.queries)) as pool:
                return list(
                    pool.map(lambda q: raw_query(server.url, q, end), source.queries.values())
                )

        figures["raw4_s"] = median_time(raw_all)
        body = raw_query(server.url, query, end)
        figures["json_mb"] = len(body) / 1e6
        figures["parse_s"] = median_time(lambda: json.loads(body))
        answers = {
            column: json.loads(raw_query(server.url, q, end))["data"]["result"]
            for column, q in source.queries.items()
        }
        figures["build_s"] = median_time(lambda: build_current(answers))
        figures["current_s"] = median_time(lambda: source.current(end))
        figures["current_per_raw4"] = figures["current_s"] / figures["raw4_s"]
        rows = len(source.current(end))
        if rows != count:
            raise SystemExit(f"expected {count} rows, got {rows}")
        window, step = 300.0, 30.0
        figures["range_raw_s"], range_body = timed(
            lambda: raw_range(server.url, query, end - window, end, step)
        )
        figures["range_json_mb"] = len(range_body) / 1e6
        figures["history_s"], history = timed(lambda: source.history(window, step, end))
        figures["history_rows"] = len(history)
        subquery = f"min_over_time(({query})[5m:30s])"
        figures["min_over_time_s"], min_body = timed(lambda: raw_query(server.url, subquery, end))
        figures["min_over_time_mb"] = len(min_body) / 1e6
        source.close()
    finally:
        server.close()
    return figures


def main(argv: list[str]) -> None:
    sizes = [int(arg) for arg in argv] or list(SIZES)
    columns = [
        ("containers", "{:.0f}"),
        ("backfill_s", "{:.1f}"),
        ("raw_s", "{:.3f}"),
        ("raw4_s", "{:.3f}"),
        ("json_mb", "{:.1f}"),
        ("parse_s", "{:.3f}"),
        ("build_s", "{:.3f}"),
        ("current_s", "{:.3f}"),
        ("current_per_raw4", "{:.2f}"),
        ("range_raw_s", "{:.2f}"),
        ("range_json_mb", "{:.1f}"),
        ("history_s", "{:.2f}"),
        ("min_over_time_s", "{:.2f}"),
        ("min_over_time_mb", "{:.1f}"),
        ("load_avg", "{:.1f}"),
    ]
    print(" | ".join(name for name, _ in columns), flush=True)
    for count in sizes:
        figures = measure(count)
        # Others share this machine; the 1-minute load average says how much.
        figures["load_avg"] = os.getloadavg()[0]
        print(" | ".join(fmt.format(figures[name]) for name, fmt in columns), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
