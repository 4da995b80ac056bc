"""The demo's command line: how long, where the outputs go, which rules, real or simulated."""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.demo_cluster import PROJECT_ROOT, Timings


@dataclass(frozen=True)
class DemoOptions:
    duration: float  # seconds from the start of the load to the end of the demo, at most
    noisy_seconds: float  # how long the noisy container writes, at least
    out: Path
    rules: Path
    simulate: bool
    timings: Timings


def parse_options(argv: Sequence[str] | None) -> DemoOptions:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.demo",
        description="Run iops-limiter end to end on this machine: real Prometheus, "
        "Alertmanager, controller and node writer, real cgroups and direct IO.",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=120.0,
        help="seconds of load at most (120); the demo ends sooner once the noisy writer is "
        "released",
    )
    parser.add_argument(
        "--short", action="store_true", help="a quicker run: the noisy writer busy for ~35 s"
    )
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="output directory")
    parser.add_argument(
        "--rules", type=Path, default=PROJECT_ROOT / "rules" / "demo.yaml", help="rule file"
    )
    parser.add_argument(
        "--simulate", action="store_true", help="use a simulated cgroup tree even where real works"
    )
    args = parser.parse_args(argv)
    duration = min(args.duration, 90.0) if args.short else args.duration
    if duration < 60:
        parser.error("--duration must be at least 60 s: limit and release take a while")
    return DemoOptions(
        duration=duration,
        # Busy for half the time at most: the rest shows the release, which waits for the
        # rule's windows.
        noisy_seconds=35.0 if args.short else duration / 2,
        out=args.out.resolve(),
        rules=args.rules.resolve(),
        simulate=args.simulate,
        timings=Timings(interval="1s", rate_window="5s", min_hold="10s"),
    )
