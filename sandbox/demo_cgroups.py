"""The demo's cgroup tree: real cgroup v1 blkio cgroups for the fake pods, or a simulated tree.

The node writer's ``CGROUP_ROOT`` is a cgroup *mount root*: it looks for
``<root>/blkio/kubepods/burstable/pod<uid>/<container id>``. So that the demo never touches the
machine's own ``kubepods`` (or a test's, or another demo's), the demo's root is a temporary
directory whose ``blkio`` is a bind mount of a uniquely named cgroup,
``/sys/fs/cgroup/blkio/iops-limiter-demo-<random>``. Inside that root the layout is exactly the
cgroupfs driver's, every path resolves inside the root, and removing the demo is removing that
one cgroup subtree.

Where the machine cannot do that (not root, no blkio hierarchy, no bind mount), the same layout
is made of plain files in a temporary directory: the node writer writes its throttle files there
and :mod:`sandbox.demo_workloads` simulates counters that obey them.
"""

import contextlib
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

BLKIO_HIERARCHY = Path("/sys/fs/cgroup/blkio")
TOP_PREFIX = "iops-limiter-demo-"
QOS_DIR = "kubepods/burstable"

_LIMIT_FILES = {
    "read_iops": "blkio.throttle.read_iops_device",
    "write_iops": "blkio.throttle.write_iops_device",
    "read_bps": "blkio.throttle.read_bps_device",
    "write_bps": "blkio.throttle.write_bps_device",
}
IO_SERVICED = "blkio.throttle.io_serviced"
IO_SERVICE_BYTES = "blkio.throttle.io_service_bytes"


class CgroupError(Exception):
    """The demo's cgroups could not be made, read or removed."""


@dataclass(frozen=True)
class Device:
    """A whole block device: what the node writer throttles and whose counters the demo reads."""

    major: int
    minor: int
    name: str

    @property
    def key(self) -> str:
        return f"{self.major}:{self.minor}"

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"


#: The disk a simulated tree pretends to throttle; its sysfs entry is simulated too, so the
#: simulation never depends on the machine's disks.
SIMULATED_DEVICE = Device(259, 0, "nvme0n1")


@dataclass(frozen=True)
class Counters:
    """Cumulative IO of one cgroup on one device."""

    read_ios: int = 0
    write_ios: int = 0
    read_bytes: int = 0
    write_bytes: int = 0


@dataclass(frozen=True)
class Limits:
    """Throttle settings of one cgroup on one device; None = no limit in that direction."""

    read_iops: int | None = None
    write_iops: int | None = None
    read_bps: int | None = None
    write_bps: int | None = None

    def any(self) -> bool:
        return any(value is not None for value in vars(self).values())


def disk_of(directory: Path) -> Device:
    """The whole disk holding ``directory`` (a partition's parent disk), from sysfs."""
    st_dev = directory.stat().st_dev
    sys_dir = Path(f"/sys/dev/block/{os.major(st_dev)}:{os.minor(st_dev)}")
    if not sys_dir.exists():
        raise CgroupError(
            f"{directory} is on device {os.major(st_dev)}:{os.minor(st_dev)}, which is no block "
            "device (overlay or tmpfs?): nothing to throttle"
        )
    sys_dir = sys_dir.resolve()
    if (sys_dir / "partition").exists():
        sys_dir = sys_dir.parent
    major, minor = (int(part) for part in (sys_dir / "dev").read_text().strip().split(":"))
    return Device(major, minor, sys_dir.name)


def real_cgroups_unavailable() -> str | None:
    """Why real blkio cgroups cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "not running as root"
    if not (BLKIO_HIERARCHY / "blkio.throttle.write_iops_device").exists():
        return f"no cgroup v1 blkio hierarchy with throttling at {BLKIO_HIERARCHY}"
    return None


class CgroupTree:
    """The fake pods' container cgroups under one cgroup root (real or simulated)."""

    def __init__(self, root: Path, blkio: Path, simulated: bool, top: Path | None) -> None:
        self.root = root
        self.simulated = simulated
        self._blkio = blkio
        self._top = top
        self._containers: list[Path] = []

    @classmethod
    def create_real(cls, workdir: Path) -> "CgroupTree":
        """A unique cgroup under the machine's blkio hierarchy, bind-mounted as ``<root>/blkio``."""
        top = BLKIO_HIERARCHY / (TOP_PREFIX + secrets.token_hex(4))
        root = Path(tempfile.mkdtemp(prefix="cgroup-root-", dir=workdir))
        blkio = root / "blkio"
        try:
            top.mkdir()
            blkio.mkdir()
            subprocess.run(
                ["mount", "--bind", str(top), str(blkio)],
                check=True,
                capture_output=True,
                text=True,
            )
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            with contextlib.suppress(OSError):
                top.rmdir()
            shutil.rmtree(root, ignore_errors=True)
            raise CgroupError(f"cannot bind-mount {top} at {blkio}: {detail.strip()}") from error
        return cls(root, blkio, simulated=False, top=top)

    @classmethod
    def create_simulated(cls, workdir: Path) -> "CgroupTree":
        root = Path(tempfile.mkdtemp(prefix="cgroup-root-simulated-", dir=workdir))
        blkio = root / "blkio"
        blkio.mkdir()
        disk = root / "sys" / "dev" / "block" / SIMULATED_DEVICE.key
        disk.mkdir(parents=True)
        (disk / "dev").write_text(SIMULATED_DEVICE.key + "\n")
        return cls(root, blkio, simulated=True, top=None)

    @property
    def sys_root(self) -> Path:
        """The sysfs the node writer resolves devices in (a simulated one for a simulated tree)."""
        return self.root / "sys" if self.simulated else Path("/sys")

    @property
    def top(self) -> Path | None:
        """The real cgroup holding everything the demo made (None when simulated)."""
        return self._top

    def add_container(self, pod_uid: str, container_id: str) -> Path:
        """Make the container's cgroup where the cgroupfs driver would put it."""
        path = self._blkio / QOS_DIR / f"pod{pod_uid}" / container_id
        path.mkdir(parents=True)
        if self.simulated:
            for name in (*_LIMIT_FILES.values(), IO_SERVICED, IO_SERVICE_BYTES, "cgroup.procs"):
                (path / name).write_text("")
        self._containers.append(path)
        return path

    def close(self) -> None:
        """Remove every cgroup the demo made; processes still inside go back to the root cgroup."""
        if self.simulated:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        problems = []
        for path in self._containers:
            _evacuate(path)
        if self._top is not None and self._top.exists():
            for directory, _, _ in os.walk(self._top, topdown=False):
                if Path(directory) != self._top:
                    problems += _rmdir_with_retry(Path(directory))
        if os.path.ismount(self._blkio):
            done = subprocess.run(
                ["umount", str(self._blkio)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                problems.append(f"umount {self._blkio}: {done.stderr.strip()}")
        if self._top is not None and self._top.exists():
            problems += _rmdir_with_retry(self._top)
        if not os.path.ismount(self._blkio):
            shutil.rmtree(self.root, ignore_errors=True)
        if problems:
            raise CgroupError("could not remove the demo's cgroups: " + "; ".join(problems))


def read_counters(cgroup: Path, device: Device) -> Counters:
    """The cgroup's cumulative IO on the device (blkio.throttle.io_serviced / io_service_bytes)."""
    ios = _per_operation(cgroup / IO_SERVICED, device)
    sizes = _per_operation(cgroup / IO_SERVICE_BYTES, device)
    return Counters(
        read_ios=ios.get("Read", 0),
        write_ios=ios.get("Write", 0),
        read_bytes=sizes.get("Read", 0),
        write_bytes=sizes.get("Write", 0),
    )


def read_limits(cgroup: Path, device: Device) -> Limits:
    """The throttle values set for the device (``MAJ:MIN value`` lines; 0 or absent = none)."""
    values: dict[str, int | None] = {}
    for field, name in _LIMIT_FILES.items():
        values[field] = None
        for line in _read_lines(cgroup / name):
            key, _, value = line.partition(" ")
            if key == device.key and value.strip().isdigit() and int(value) > 0:
                values[field] = int(value)
    return Limits(**values)


def _per_operation(path: Path, device: Device) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _read_lines(path):
        parts = line.split()
        if len(parts) == 3 and parts[0] == device.key and parts[2].isdigit():
            out[parts[1]] = int(parts[2])
    return out


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise CgroupError(f"cannot read {path}: {error}") from error


def _evacuate(cgroup: Path) -> None:
    """Move the cgroup's processes back to the hierarchy's root: rmdir needs it empty."""
    for pid in _read_lines(cgroup / "cgroup.procs"):
        with contextlib.suppress(OSError):  # the process may have exited meanwhile
            (BLKIO_HIERARCHY / "cgroup.procs").write_text(pid)


def _rmdir_with_retry(directory: Path, timeout: float = 5.0) -> list[str]:
    """rmdir, retrying while a just-killed process is still leaving the cgroup."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            directory.rmdir()
            return []
        except FileNotFoundError:
            return []
        except OSError as error:
            if time.monotonic() > deadline:
                return [f"rmdir {directory}: {error}"]
            _evacuate(directory)
            time.sleep(0.1)
