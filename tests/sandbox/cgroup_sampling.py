"""Reading a running demo's real cgroups from outside it: the tests' own IOPS figures.

The demo bind-mounts its cgroup as ``blkio`` inside its output directory; from the mount table
the test finds it, and samples each container cgroup's ``blkio.throttle.io_serviced`` (writes
dispatched, per device) and ``blkio.throttle.write_iops_device`` (the limit the node writer
wrote) twice a second, independently of anything the demo measures or prints.
"""

import itertools
import threading
import time
from dataclasses import dataclass
from pathlib import Path

LIMIT_FILE = "blkio.throttle.write_iops_device"
#: Once a limit is written, the first moments still drain IO queued before it.
SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic seconds
    writes: dict[str, int]  # device MAJ:MIN -> write IOs dispatched so far
    limits: dict[str, int]  # device MAJ:MIN -> write IOPS limit (absent: none)


def blkio_mount_under(directory: Path) -> Path | None:
    """The blkio cgroup mount the demo made inside ``directory``, if there is one now."""
    prefix = str(directory) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            fields = line.split(" ")
            if fields[4].startswith(prefix) and fields[4].endswith("/blkio"):
                return Path(fields[4])
    return None


def _read(cgroup: Path) -> tuple[dict[str, int], dict[str, int]]:
    writes = {}
    for line in (cgroup / "blkio.throttle.io_serviced").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "Write":
            writes[parts[0]] = int(parts[2])
    limits = {}
    for line in (cgroup / LIMIT_FILE).read_text().splitlines():
        device, value = line.split()
        if int(value) > 0:
            limits[device] = int(value)
    return writes, limits


class CgroupSampler(threading.Thread):
    """Samples every container cgroup of the demo writing into ``out`` until stopped."""

    def __init__(self, out: Path) -> None:
        super().__init__(name="cgroup-sampler", daemon=True)
        self._out = out
        self._halt = threading.Event()
        self.samples: dict[Path, list[Sample]] = {}  # cgroup path -> samples in time order

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def run(self) -> None:
        while not self._halt.wait(0.5):
            mount = blkio_mount_under(self._out)
            if mount is None:
                continue
            for limit_file in mount.rglob(LIMIT_FILE):
                cgroup = limit_file.parent
                if cgroup == mount:
                    continue
                try:
                    writes, limits = _read(cgroup)
                except (OSError, ValueError):
                    continue  # removed mid-read at the end of the demo
                self.samples.setdefault(cgroup, []).append(Sample(time.monotonic(), writes, limits))

    def limited(self) -> tuple[list[Sample], str, int]:
        """The samples of the one cgroup that was limited, its device and its limit."""
        found = [
            (samples, device, value)
            for samples in self.samples.values()
            for sample in samples
            for device, value in sample.limits.items()
        ]
        cgroups = {id(samples) for samples, _, _ in found}
        assert len(cgroups) == 1, f"expected one limited cgroup, saw {len(cgroups)}"
        return found[0]


def _steady_rate(samples: list[Sample], device: str, busy: float) -> float | None:
    """Write IOPS over the longest run of sampling intervals each at least ``busy`` IOPS,
    without its last interval (the load may have stopped inside it)."""
    best: list[tuple[Sample, Sample]] = []
    run: list[tuple[Sample, Sample]] = []
    for before, after in itertools.pairwise(samples):
        rate = (after.writes.get(device, 0) - before.writes.get(device, 0)) / (after.at - before.at)
        run = [*run, (before, after)] if rate >= busy else []
        best = run if len(run) > len(best) else best
    if len(best) < 3:
        return None
    first, last = best[0][0], best[-2][1]
    return (last.writes.get(device, 0) - first.writes.get(device, 0)) / (last.at - first.at)


def iops_before_and_under(samples: list[Sample], device: str, limit: int) -> tuple[float, float]:
    """The limited container's write IOPS before its limit and under it, while it was busy."""
    limited_from = next(s.at for s in samples if device in s.limits)
    before = [s for s in samples if s.at < limited_from]
    under = [s for s in samples if device in s.limits and s.at >= limited_from + SETTLE_SECONDS]
    before_rate = _steady_rate(before, device, busy=0.5 * limit)
    under_rate = _steady_rate(under, device, busy=0.5 * limit)
    assert before_rate is not None, "no busy stretch sampled before the limit"
    assert under_rate is not None, "no busy stretch sampled under the limit"
    return before_rate, under_rate
