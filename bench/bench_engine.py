"""How long ``controller.engine.evaluate`` takes for 1k, 10k and 100k containers.

Each container has 10 history steps (30 s apart, the newest 30 s before ``now``) plus the
current row; ``--steps 20`` reaches back the default release's 10 minutes, so the release of
the limited containers is evaluated on history too. The rule set is a realistic one: group
selection with excluded namespaces, a pod selector and a container regex, a 5m threshold rule,
a graded 15m/30m pair that reach past the history (so they stay quiet), a per-row limit
expression, and the default release for the 1% of containers that already carry a limit.
About 2% of containers write hard.

    python -m bench.bench_engine [--sizes 1000,10000,100000] [--steps 10] [--repeat 5]
"""

import argparse
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

from controller.engine import EngineOptions, evaluate
from controller.frames import APPLIED_COLUMNS, RATE_COLUMNS
from controller.rule_files import load_rules
from controller.rule_model import RuleSet

RULES = """\
groups:
  - name: noisy-neighbours
    select:
      excludeNamespaces: [kube-system, monitoring]
      podSelector: "tier notin (database)"
      excludeContainers: ["^istio-proxy$"]
    rules:
      - name: sustained-writer
        expr: write_iops > 1000
        for: 5m
        limit: {write_iops: 500}
        summary: "{namespace}/{pod} {container} wrote {write_iops:.0f} IOPS for 5m"
      - name: sustained-reader
        expr: read_iops > 2000 and read_bps > 50000000
        for: 5m
        limit: {read_iops: "max(200, 0.5 * read_iops)"}
      - name: heavy-15m
        expr: total_iops > 3000
        for: 15m
        limit: {write_iops: 1000, read_iops: 1000}
  - name: graded
    select: {excludeNamespaces: [kube-system]}
    rules:
      - name: writer-30m
        expr: write_iops > 800
        for: 30m
        limit: {write_iops: 400}
"""

STEP = 30.0
NOW = 1_800_000_000.0


def frames(
    n: int, steps: int = 10, seed: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    random = np.random.default_rng(seed)
    pods = np.arange(n) // 2
    namespace = np.array([f"team-{p % 50}" for p in pods], dtype=object)
    pod = np.array([f"app-{p}-7d9f8b6c5-x2k4q" for p in pods], dtype=object)
    container = np.where(np.arange(n) % 2 == 0, "app", "istio-proxy").astype(object)
    tiers = ("web", "batch", "database")
    labels = np.array([{"app": f"app-{p}", "tier": tiers[p % 3]} for p in pods], dtype=object)
    noisy = random.random(n) < 0.02
    write = np.where(noisy, random.uniform(1200, 5000, n), random.uniform(0, 300, n))
    read = random.uniform(0, 500, n)
    rates = {
        "read_iops": read,
        "write_iops": write,
        "total_iops": read + write,
        "read_bps": read * 16384,
        "write_bps": write * 16384,
    }
    keys = {"namespace": namespace, "pod": pod, "container": container}
    current = pd.DataFrame(keys | {"node": "node-1"} | rates | {"labels": labels})
    jitter = [random.uniform(0.9, 1.1, n) for _ in range(steps)]
    history = pd.concat(
        [
            pd.DataFrame(
                {"time": NOW - STEP * (steps - step)}
                | keys
                | {name: values * jitter[step] for name, values in rates.items()}
            )
            for step in range(steps)
        ],
        ignore_index=True,
    )
    limited = np.flatnonzero(random.random(n) < 0.01)
    applied = pd.DataFrame(
        {
            "namespace": namespace[limited],
            "pod": pod[limited],
            "container": container[limited],
            "limit_write_iops": 500.0,
            "limit_read_iops": np.nan,
            "limit_write_bps": np.nan,
            "limit_read_bps": np.nan,
            "group": "noisy-neighbours",
            "rule": "sustained-writer",
            "since": NOW - 3600,
            "changed": NOW - 3600,
        },
        columns=list(APPLIED_COLUMNS),
    )
    assert set(RATE_COLUMNS) <= set(history.columns)
    return current, history, applied


def rule_set() -> RuleSet:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.yaml"
        path.write_text(textwrap.dedent(RULES))
        return load_rules(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--steps", type=int, default=10, help="history steps per container")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rules = rule_set()
    options = EngineOptions(interval=STEP)
    print(
        f"{'containers':>10} {'history rows':>12} {'median s':>9} {'min s':>7} {'µs/container':>12}"
    )
    for n in (int(size) for size in args.sizes.split(",")):
        current, history, applied = frames(n, args.steps)
        timings = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            decisions = evaluate(rules, current, history, applied, NOW, options)
            timings.append(time.perf_counter() - start)
        median = statistics.median(timings)
        print(
            f"{n:>10} {len(history):>12} {median:>9.3f} {min(timings):>7.3f} "
            f"{median / n * 1e6:>12.2f}"
        )
        counts = decisions["action"].value_counts().to_dict()
        print(f"{'':>10} actions: {counts}")


if __name__ == "__main__":
    main()
