"""The demo's disk load: real ``fio`` with direct IO inside each container's cgroup, or simulated.

Real: each workload is ``fio`` on a file in the demo's work directory (so on the data disk), its
pid written to the container's ``cgroup.procs`` before it execs, so every IO it does is counted
and throttled by that cgroup. Simulated: a thread adds to the simulated cgroup's counters at the
workload's rate, capped by whatever throttle the node writer wrote into the simulated files, so
the rest of the demo cannot tell the difference except by the label.
"""

import math
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sandbox.demo_cgroups import IO_SERVICE_BYTES, IO_SERVICED, Device, read_limits
from sandbox.demo_processes import Processes

BLOCK_SIZE = 4096
FILE_SIZE = 32 * 1024 * 1024


class WorkloadError(Exception):
    """A workload could not be started."""


@dataclass(frozen=True)
class Workload:
    """Direct 4 KiB random IO at these rates, until stopped."""

    name: str  # unique in the demo; names the data file and the log
    read_iops: int
    write_iops: int


class Load(Protocol):
    """Runs workloads in cgroups; real and simulated ones behave alike from the outside."""

    def start(self, workload: Workload, cgroup: Path) -> None: ...

    def stop(self, name: str) -> None: ...

    def stop_all(self) -> None: ...


class FioLoad:
    """Real direct IO with fio, one process group per workload."""

    def __init__(self, processes: Processes, data_dir: Path) -> None:
        fio = shutil.which("fio")
        if fio is None:
            raise WorkloadError("fio is not installed (scripts/setup.sh installs it)")
        self._fio = fio
        self._processes = processes
        self._data_dir = data_dir
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, workload: Workload, cgroup: Path) -> None:
        data_file = self._data_dir / f"{workload.name}.fio"
        # Lay the file out here, outside the cgroup, so the container's counters hold only the
        # workload's own direct IO. Written, not fallocated: reads of unwritten extents are
        # answered with zeros without touching the disk, and would never be counted.
        chunk = bytes(1024 * 1024)
        with data_file.open("wb") as handle:
            for _ in range(FILE_SIZE // len(chunk)):
                handle.write(chunk)
            os.fsync(handle.fileno())
        # The shell puts itself into the cgroup, then becomes fio: fio and its job workers
        # never run outside the cgroup.
        argv = [
            "sh",
            "-c",
            'echo $$ > "$1" && shift && exec "$@"',
            "sh",
            str(cgroup / "cgroup.procs"),
            self._fio,
            *_fio_arguments(workload, data_file),
        ]
        self._children[workload.name] = self._processes.start(f"fio-{workload.name}", argv)

    def stop(self, name: str) -> None:
        self._processes.stop(self._children[name])

    def stop_all(self) -> None:
        for child in self._children.values():
            self._processes.stop(child)


def _fio_arguments(workload: Workload, data_file: Path) -> list[str]:
    reads, writes = workload.read_iops, workload.write_iops
    if reads and writes:
        mix = ["--rw=randrw", f"--rwmixread={round(100 * reads / (reads + writes))}"]
    else:
        mix = ["--rw=randwrite" if writes else "--rw=randread"]
    return [
        f"--name={workload.name}",
        f"--filename={data_file}",
        f"--size={FILE_SIZE}",
        *mix,
        f"--rate_iops={reads},{writes}",
        f"--bs={BLOCK_SIZE}",
        "--direct=1",
        "--ioengine=psync",
        "--time_based",
        "--runtime=1d",  # the demo stops it
        "--output-format=terse",
    ]


class SimulatedLoad:
    """Counters that grow at the workloads' rates, capped by the simulated throttle files."""

    TICK = 0.1

    def __init__(self, device: Device) -> None:
        self._device = device
        self._active: dict[str, tuple[Workload, Path]] = {}
        self._totals: dict[Path, list[float]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-load", daemon=True)
        self._thread.start()

    def start(self, workload: Workload, cgroup: Path) -> None:
        with self._lock:
            self._active[workload.name] = (workload, cgroup)
            self._totals.setdefault(cgroup, [0.0, 0.0])

    def stop(self, name: str) -> None:
        with self._lock:
            self._active.pop(name, None)

    def stop_all(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stopping.wait(self.TICK):
            now = time.monotonic()
            with self._lock:
                active = list(self._active.values())
            for workload, cgroup in active:
                self._advance(workload, cgroup, now - last)
            last = now

    def _advance(self, workload: Workload, cgroup: Path, seconds: float) -> None:
        limits = read_limits(cgroup, self._device)
        reads = min(workload.read_iops, limits.read_iops or math.inf)
        writes = min(workload.write_iops, limits.write_iops or math.inf)
        totals = self._totals[cgroup]
        totals[0] += reads * seconds
        totals[1] += writes * seconds
        read_ios, write_ios = int(totals[0]), int(totals[1])
        key = self._device.key
        for name, scale in ((IO_SERVICED, 1), (IO_SERVICE_BYTES, BLOCK_SIZE)):
            text = (
                f"{key} Read {read_ios * scale}\n{key} Write {write_ios * scale}\n"
                f"{key} Total {(read_ios + write_ios) * scale}\n"
                f"Total {(read_ios + write_ios) * scale}\n"
            )
            # Replace, never rewrite in place: a reader never sees half a file.
            scratch = cgroup / f".{name}.new"
            scratch.write_text(text)
            scratch.replace(cgroup / name)
