"""The demo's PNG chart: each container's IOPS over time with its limit line."""

from pathlib import Path

import matplotlib

# No display: the demo runs in terminals and CI. The backend must be chosen before pyplot.
matplotlib.use("Agg")

import matplotlib.pyplot as plt

from sandbox.demo_record import ContainerRecord


def draw_chart(records: list[ContainerRecord], path: Path, *, simulated: bool) -> Path:
    """One panel per container: measured read and write IOPS, the limit as a dashed step line."""
    figure, axes = plt.subplots(
        len(records), 1, figsize=(10, 2.6 * len(records)), sharex=True, squeeze=False
    )
    for axis, record in zip(axes[:, 0], records, strict=True):
        rows = record.per_second()
        times = [row[0] for row in rows]
        axis.plot(times, [row[1] for row in rows], label="read IOPS", color="tab:blue")
        axis.plot(times, [row[2] for row in rows], label="write IOPS", color="tab:orange")
        limits = [row[3] if row[3] is not None else float("nan") for row in rows]
        if any(row[3] is not None for row in rows):
            axis.step(times, limits, where="post", linestyle="--", color="tab:red", label="limit")
        for moment, label in (
            (record.limited_at, "limit written"),
            (record.load_stopped_at, "load stopped"),
            (record.released_at, "released"),
        ):
            if moment is not None:
                axis.axvline(moment, color="grey", linewidth=0.8, linestyle=":")
                axis.annotate(label, (moment, 0), textcoords="offset points", xytext=(3, 3))
        axis.set_title(f"{record.name} ({record.state})", fontsize=10)
        axis.set_ylabel("IOPS")
        axis.set_ylim(bottom=0)
        axis.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("seconds since the load started")
    source = "SIMULATED cgroup counters" if simulated else "real cgroup counters"
    figure.suptitle(f"iops-limiter sandbox demo: per-container IOPS ({source})")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
    return path
