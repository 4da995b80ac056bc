"""The demo's cgroup tree: real cgroups for the fake pods (v1 blkio or v2 io), or a simulated tree.

The node writer's ``CGROUP_ROOT`` is a cgroup *mount root*: it looks for
``<root>/blkio/kubepods/burstable/pod<uid>/<container id>`` on v1 and
``<root>/kubepods/burstable/pod<uid>/<container id>`` on v2. So that the demo never touches the
machine's own ``kubepods`` (or a test's, or another demo's), the demo's root is a temporary
directory where a uniquely named cgroup, ``iops-limiter-demo-<random>`` directly under the
machine's hierarchy, is bind-mounted (at ``<root>/blkio`` on v1, at ``<root>`` on v2). Inside
that root the layout is exactly the cgroupfs driver's, every path resolves inside the root, and
removing the demo is removing that one cgroup subtree.

Where the machine cannot do that (not root, no blkio and no v2 io controller, no bind mount),
the same v1 layout is made of plain files in a temporary directory: the node writer writes its
throttle files there and :mod:`sandbox.demo_workloads` simulates counters that obey them.
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
UNIFIED_HIERARCHY = Path("/sys/fs/cgroup")
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
_V2_LIMIT_KEYS = {
    "read_iops": "riops",
    "write_iops": "wiops",
    "read_bps": "rbps",
    "write_bps": "wbps",
}


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


def real_cgroup_version() -> str | None:
    """``v1`` with a blkio hierarchy (also on hybrid hosts, where IO throttling lives in v1),
    else ``v2`` when the unified hierarchy offers the io controller, else None."""
    if (BLKIO_HIERARCHY / "blkio.throttle.write_iops_device").exists():
        return "v1"
    try:
        controllers = (UNIFIED_HIERARCHY / "cgroup.controllers").read_text().split()
    except OSError:
        return None
    return "v2" if "io" in controllers else None


def real_cgroups_unavailable() -> str | None:
    """Why real cgroups cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "not running as root"
    if real_cgroup_version() is None:
        return (
            f"no cgroup v1 blkio hierarchy at {BLKIO_HIERARCHY} and no io controller "
            f"in the cgroup v2 hierarchy at {UNIFIED_HIERARCHY}"
        )
    return None


class CgroupTree:
    """The fake pods' container cgroups under one cgroup root (real or simulated)."""

    def __init__(
        self, root: Path, mount: Path, version: str, *, top: Path | None, hierarchy: Path | None
    ) -> None:
        self.root = root
        self.version = version
        self._mount = mount  # where kubepods/ goes: <root>/blkio (v1) or <root> (v2)
        self._top = top
        self._hierarchy = hierarchy
        self._made: list[Path] = []

    @classmethod
    def create_real(cls, workdir: Path) -> "CgroupTree":
        """A unique cgroup under the machine's hierarchy, bind-mounted into a new root."""
        version = real_cgroup_version()
        if version is None:
            raise CgroupError(real_cgroups_unavailable() or "no usable cgroup hierarchy")
        hierarchy = BLKIO_HIERARCHY if version == "v1" else UNIFIED_HIERARCHY
        top = hierarchy / (TOP_PREFIX + secrets.token_hex(4))
        root = Path(tempfile.mkdtemp(prefix="cgroup-root-", dir=workdir))
        mount = root / "blkio" if version == "v1" else root
        try:
            top.mkdir()
            if version == "v2":
                _enable_io(top)
            mount.mkdir(exist_ok=True)
            subprocess.run(
                ["mount", "--bind", str(top), str(mount)],
                check=True,
                capture_output=True,
                text=True,
            )
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            with contextlib.suppress(OSError):
                top.rmdir()
            shutil.rmtree(root, ignore_errors=True)
            raise CgroupError(f"cannot bind-mount {top} at {mount}: {detail.strip()}") from error
        return cls(root, mount, version, top=top, hierarchy=hierarchy)

    @classmethod
    def create_simulated(cls, workdir: Path) -> "CgroupTree":
        root = Path(tempfile.mkdtemp(prefix="cgroup-root-simulated-", dir=workdir))
        (root / "blkio").mkdir()
        disk = root / "sys" / "dev" / "block" / SIMULATED_DEVICE.key
        disk.mkdir(parents=True)
        (disk / "dev").write_text(SIMULATED_DEVICE.key + "\n")
        return cls(root, root / "blkio", "v1", top=None, hierarchy=None)

    @property
    def simulated(self) -> bool:
        return self._hierarchy is None

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
        path = self._mount / QOS_DIR / f"pod{pod_uid}" / container_id
        for level in reversed(path.relative_to(self._mount).parents[:-1]):
            parent = self._mount / level
            if not parent.exists():
                parent.mkdir()
                if self.version == "v2":
                    _enable_io(parent)  # v2 offers a controller to children only when asked
        path.mkdir()
        if self.simulated:
            for name in (*_LIMIT_FILES.values(), IO_SERVICED, IO_SERVICE_BYTES, "cgroup.procs"):
                (path / name).write_text("")
        self._made.append(path)
        return path

    def counters(self, cgroup: Path, device: Device) -> Counters:
        return read_counters(cgroup, device, self.version)

    def limits(self, cgroup: Path, device: Device) -> Limits:
        return read_limits(cgroup, device, self.version)

    def close(self) -> None:
        """Remove every cgroup the demo made; processes still inside go back to the root cgroup."""
        if self._top is None or self._hierarchy is None:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        problems = []
        for path in self._made:
            _evacuate(path, self._hierarchy)
        if self._top.exists():
            for directory, _, _ in os.walk(self._top, topdown=False):
                if Path(directory) != self._top:
                    problems += _rmdir_with_retry(Path(directory), self._hierarchy)
        if os.path.ismount(self._mount):
            done = subprocess.run(
                ["umount", str(self._mount)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                problems.append(f"umount {self._mount}: {done.stderr.strip()}")
        if self._top.exists():
            problems += _rmdir_with_retry(self._top, self._hierarchy)
        if not os.path.ismount(self._mount):
            shutil.rmtree(self.root, ignore_errors=True)
        if problems:
            raise CgroupError("could not remove the demo's cgroups: " + "; ".join(problems))


def read_counters(cgroup: Path, device: Device, version: str = "v1") -> Counters:
    """The cgroup's cumulative IO on the device: v1 ``blkio.throttle.io_serviced`` and
    ``io_service_bytes``, v2 ``io.stat`` (``MAJ:MIN rbytes=… wbytes=… rios=… wios=…``)."""
    if version == "v2":
        stat = _v2_fields(cgroup / "io.stat", device)
        return Counters(
            read_ios=int(stat.get("rios", 0)),
            write_ios=int(stat.get("wios", 0)),
            read_bytes=int(stat.get("rbytes", 0)),
            write_bytes=int(stat.get("wbytes", 0)),
        )
    ios = _per_operation(cgroup / IO_SERVICED, device)
    sizes = _per_operation(cgroup / IO_SERVICE_BYTES, device)
    return Counters(
        read_ios=ios.get("Read", 0),
        write_ios=ios.get("Write", 0),
        read_bytes=sizes.get("Read", 0),
        write_bytes=sizes.get("Write", 0),
    )


def read_limits(cgroup: Path, device: Device, version: str = "v1") -> Limits:
    """The throttle values set for the device: v1 ``MAJ:MIN value`` lines (0 or absent: none),
    v2 ``io.max`` (``MAJ:MIN rbps=max wbps=max riops=max wiops=200``)."""
    values: dict[str, int | None] = {}
    if version == "v2":
        limits = _v2_fields(cgroup / "io.max", device)
        for field, key in _V2_LIMIT_KEYS.items():
            value = limits.get(key, "max")
            values[field] = int(value) if value.isdigit() and int(value) > 0 else None
        return Limits(**values)
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


def _v2_fields(path: Path, device: Device) -> dict[str, str]:
    for line in _read_lines(path):
        key, *fields = line.split()
        if key == device.key:
            return dict(field.partition("=")[::2] for field in fields)
    return {}


def _enable_io(cgroup: Path) -> None:
    (cgroup / "cgroup.subtree_control").write_text("+io")


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise CgroupError(f"cannot read {path}: {error}") from error


def _evacuate(cgroup: Path, hierarchy: Path) -> None:
    """Move the cgroup's processes back to the hierarchy's root: rmdir needs it empty."""
    for pid in _read_lines(cgroup / "cgroup.procs"):
        with contextlib.suppress(OSError):  # the process may have exited meanwhile
            (hierarchy / "cgroup.procs").write_text(pid)


def _rmdir_with_retry(directory: Path, hierarchy: Path, timeout: float = 5.0) -> list[str]:
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
            _evacuate(directory, hierarchy)
            time.sleep(0.1)
