"""Past disk IO as OpenMetrics text, for ``promtool tsdb create-blocks-from openmetrics``.

Backfilled samples must join the live scrapes seamlessly, or ``rate()`` over the seam reads
nonsense: the same labels as the scraped series (including the ``job`` and ``instance``
Prometheus adds), counters ending exactly where the exporter's counters continue, and
timestamps no later than the moment the exporter's counters start growing live.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from sandbox.cadvisor_series import (
    METRICS,
    ContainerSeries,
    Counters,
    Phase,
    Rates,
    format_labels,
)

#: A series' past: (series, phases oldest first, wall time at which the past ends).
Past = tuple[ContainerSeries, Sequence[Phase], float]


@dataclass(frozen=True)
class Target:
    """The labels Prometheus adds to everything it scrapes from one target under one job."""

    job: str
    instance: str

    def labels(self) -> dict[str, str]:
        return {"job": self.job, "instance": self.instance}


def write_openmetrics(out: TextIO, pasts: Iterable[tuple[Past, Target]], *, step: float) -> int:
    """Write each past as scraped from its target, one sample per ``step``, as one complete
    OpenMetrics text; returns the number of samples written.

    The last sample of each past falls exactly on its end time, with the counters the
    exporter continues from.
    """
    prepared = [
        (format_labels({**series.labels(), **target.labels()}), list(_points(phases, end, step)))
        for (series, phases, end), target in pasts
    ]
    written = 0
    for index, (name, help_text) in enumerate(METRICS):
        family = name.removesuffix("_total")
        out.write(f"# HELP {family} {help_text}.\n# TYPE {family} counter\n")
        for labels, points in prepared:
            out.write(
                "".join(
                    f"{name}{{{labels}}} {counters.values()[index]!r} {when:.3f}\n"
                    for when, counters in points
                )
            )
            written += len(points)
    out.write("# EOF\n")
    return written


def _points(phases: Sequence[Phase], end: float, step: float) -> Iterator[tuple[float, Counters]]:
    """(time, counters) every ``step`` seconds across the phases, ending exactly at ``end``."""
    if not phases:
        return
    total = sum(phase.seconds for phase in phases)
    start = end - total
    steps = int(total // step)
    times = [end - k * step for k in range(steps, -1, -1)]
    phase_index, phase_start, base = 0, start, Counters()
    for when in times:
        while phase_index < len(phases) - 1 and when > phase_start + phases[phase_index].seconds:
            base = base.advanced(phases[phase_index].rates, phases[phase_index].seconds)
            phase_start += phases[phase_index].seconds
            phase_index += 1
        yield when, base.advanced(phases[phase_index].rates, when - phase_start)


def synthetic_containers(
    count: int, *, namespaces: int = 50, noisy_every: int = 100
) -> list[tuple[ContainerSeries, Rates]]:
    """``count`` made-up containers with stable, varied rates; every ``noisy_every``-th writes
    hard (5000 IOPS), the rest quietly (under 100 IOPS). For benchmarks at up to 100k."""
    out = []
    for index in range(count):
        series = ContainerSeries(
            namespace=f"ns-{index % namespaces:03d}",
            pod=f"pod-{index:06d}",
            container="app",
            uid=f"00000000-0000-4000-8000-{index:012d}",
            cid=f"{index:064x}",
        )
        write_iops = 5000.0 if index % noisy_every == 0 else float(index % 97)
        read_iops = float(index % 53)
        out.append((series, Rates(read_iops, write_iops, read_iops * 4096, write_iops * 4096)))
    return out


def write_synthetic(
    out: TextIO,
    containers: Sequence[tuple[ContainerSeries, Rates]],
    *,
    seconds: float,
    step: float,
    end: float,
    target: Target,
) -> int:
    """Steady history (constant rates, counters from 0) as one OpenMetrics text; returns the
    number of samples. The general :func:`write_openmetrics` is too slow at 100k containers.
    """
    steps = int(seconds // step)
    offsets = [seconds - k * step for k in range(steps, -1, -1)]
    stamps = [f"{end - seconds + offset:.3f}" for offset in offsets]
    labels = [format_labels({**series.labels(), **target.labels()}) for series, _ in containers]
    for index, (name, help_text) in enumerate(METRICS):
        family = name.removesuffix("_total")
        out.write(f"# HELP {family} {help_text}.\n# TYPE {family} counter\n")
        for label_text, (_, rates) in zip(labels, containers, strict=True):
            rate = _rate_values(rates)[index]
            prefix = f"{name}{{{label_text}}} "
            out.write(
                "".join(
                    f"{prefix}{rate * offset!r} {stamp}\n"
                    for offset, stamp in zip(offsets, stamps, strict=True)
                )
            )
    out.write("# EOF\n")
    return len(containers) * len(offsets) * len(METRICS)


def _rate_values(rates: Rates) -> tuple[float, float, float, float]:
    """In :data:`METRICS` order: reads, writes, bytes read, bytes written."""
    return (rates.read_iops, rates.write_iops, rates.read_bps, rates.write_bps)
