"""Reading and writing one container cgroup's IO limits: v1 blkio.throttle.*, v2 io.max.

Both writers read the files first and write only what differs, then read back to confirm the
kernel took the value (a partition's MAJ:MIN, for one, is refused). v1 clears with
``MAJ:MIN 0``; v2 writes only the keys that change and clears with ``max``.
"""

import errno
import os
from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Protocol

from iops_limit.annotations import ContainerLimits
from node_writer.devices import Device

FIELDS = tuple(field.name for field in fields(ContainerLimits))
V1_FILES = {name: f"blkio.throttle.{name}_device" for name in FIELDS}
V2_KEYS = {"read_bps": "rbps", "write_bps": "wbps", "read_iops": "riops", "write_iops": "wiops"}


# What the kernel means by the errors a throttle file write returns. ENODEV: v1 and v2 share the
# code that looks the number up as a whole disk, so a partition gets the same answer as a
# removed device (seen on 6.1 by tests/node_writer/test_kernel_v2_vm.py).
_WRITE_ERRORS = {
    errno.EINVAL: "the kernel refused the value",
    errno.ENODEV: "no such device, or not a whole disk (the kernel refuses partitions)",
    errno.ELOOP: "the control file is a symbolic link, which is refused",
}


class ThrottleError(Exception):
    """A limit could not be read or written; the message names the file."""


class WriteFailed(ThrottleError):
    """A write the kernel refused, or whose value it did not keep."""


class CgroupGone(ThrottleError):
    """The container's cgroup no longer exists (the container stopped)."""


class CgroupFiles(Protocol):
    """File access to cgroup control files; tests substitute one that behaves like the kernel."""

    def read(self, path: str) -> str: ...

    def write(self, path: str, text: str) -> None: ...


class KernelFiles:
    """The real files: each write is one write(2), which is what cgroup files expect.

    Paths are checked again here, where they are opened: the control file must resolve inside
    ``root`` (the cgroup root) and must not itself be a symlink (O_NOFOLLOW), so a link planted
    in a container's cgroup cannot turn a write as root into a write anywhere else.
    """

    # Also at class level: a subclass whose __init__ does not call this one (the VM test's
    # RecordingFiles) still gets a root to check against.
    _root = "/"

    def __init__(self, root: str = "/") -> None:
        self._root = os.path.realpath(root)

    def read(self, path: str) -> str:
        descriptor = self._open(path, os.O_RDONLY)
        with os.fdopen(descriptor, encoding="ascii") as file:
            return file.read()

    def write(self, path: str, text: str) -> None:
        # No O_CREAT: a missing file means a missing cgroup, never a file to make. O_TRUNC is
        # ignored by cgroupfs but keeps a plain-file tree (the simulated demo) from keeping the
        # tail of a longer old value.
        descriptor = self._open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(descriptor, text.encode("ascii"))
        finally:
            os.close(descriptor)

    def _open(self, path: str, flags: int) -> int:
        resolved = os.path.realpath(path)
        if os.path.commonpath([self._root, resolved]) != self._root:
            raise ThrottleError(f"refusing {path}: it resolves to {resolved}, outside {self._root}")
        return os.open(path, flags | os.O_NOFOLLOW)


class Throttle(Protocol):
    version: str

    def read(self, cgroup: str) -> dict[Device, ContainerLimits]: ...

    def apply(self, cgroup: str, device: Device, limits: ContainerLimits) -> tuple[str, ...]:
        """Make the device's limits equal ``limits``; the names of the fields that changed."""
        ...


class V1Throttle:
    version = "v1"

    def __init__(self, files: CgroupFiles) -> None:
        self._files = files

    def read(self, cgroup: str) -> dict[Device, ContainerLimits]:
        found: dict[Device, ContainerLimits] = {}
        for name, file_name in V1_FILES.items():
            path = os.path.join(cgroup, file_name)
            for device, value in _v1_lines(path, _read(self._files, path)):
                found[device] = replace(found.get(device, ContainerLimits()), **{name: value})
        return found

    def apply(self, cgroup: str, device: Device, limits: ContainerLimits) -> tuple[str, ...]:
        changed = []
        for name, file_name in V1_FILES.items():
            path = os.path.join(cgroup, file_name)
            wanted = getattr(limits, name)
            if dict(_v1_lines(path, _read(self._files, path))).get(device) == wanted:
                continue
            _write(self._files, path, f"{device} {wanted or 0}")
            kept = dict(_v1_lines(path, _read(self._files, path))).get(device)
            if kept != wanted:
                raise WriteFailed(f"{path}: wrote {device} {wanted or 0}, the kernel kept {kept}")
            changed.append(name)
        return tuple(changed)


class V2Throttle:
    version = "v2"

    def __init__(self, files: CgroupFiles) -> None:
        self._files = files

    def read(self, cgroup: str) -> dict[Device, ContainerLimits]:
        path = os.path.join(cgroup, "io.max")
        return dict(_v2_lines(path, _read(self._files, path)))

    def apply(self, cgroup: str, device: Device, limits: ContainerLimits) -> tuple[str, ...]:
        path = os.path.join(cgroup, "io.max")
        if not os.path.isdir(cgroup):
            raise CgroupGone(f"{cgroup} does not exist")
        self._check_io_enabled(cgroup)
        current = dict(_v2_lines(path, _read(self._files, path))).get(device, ContainerLimits())
        changed = tuple(name for name in FIELDS if getattr(current, name) != getattr(limits, name))
        if not changed:
            return ()
        keys = " ".join(f"{V2_KEYS[name]}={getattr(limits, name) or 'max'}" for name in changed)
        _write(self._files, path, f"{device} {keys}")
        kept = dict(_v2_lines(path, _read(self._files, path))).get(device, ContainerLimits())
        if kept != limits:
            raise WriteFailed(f"{path}: wrote {device} {keys}, the kernel kept {kept}")
        return changed

    def _check_io_enabled(self, cgroup: str) -> None:
        parent_control = os.path.join(os.path.dirname(cgroup), "cgroup.subtree_control")
        controllers = _read(self._files, parent_control).split()
        if "io" not in controllers:
            raise ThrottleError(
                f"the io controller is not enabled for {cgroup}: {parent_control} has "
                f"{' '.join(controllers) or 'nothing'}; enable it (echo +io) up the hierarchy"
            )


def throttle_for(version: str, files: CgroupFiles) -> Throttle:
    return V1Throttle(files) if version == "v1" else V2Throttle(files)


def _read(files: CgroupFiles, path: str) -> str:
    try:
        return files.read(path)
    except FileNotFoundError:
        raise CgroupGone(f"{path} does not exist") from None
    except OSError as error:
        raise ThrottleError(f"cannot read {path}: {error.strerror or error}") from None


def _write(files: CgroupFiles, path: str, text: str) -> None:
    try:
        files.write(path, text)
    except FileNotFoundError:
        raise CgroupGone(f"{path} does not exist") from None
    except OSError as error:
        why = _WRITE_ERRORS.get(error.errno or 0, error.strerror)
        raise WriteFailed(f"cannot write {text!r} to {path}: {why or error}") from None


def _v1_lines(path: str, text: str) -> Iterable[tuple[Device, int | None]]:
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        device = _device(path, parts[0])
        if len(parts) != 2 or not parts[1].isascii() or not parts[1].isdigit():
            raise ThrottleError(f"{path}: unexpected line {line[:80]!r}")
        yield device, int(parts[1]) or None


def _v2_lines(path: str, text: str) -> Iterable[tuple[Device, ContainerLimits]]:
    by_key = {key: name for name, key in V2_KEYS.items()}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        values: dict[str, int | None] = {}
        for item in parts[1:]:
            key, _, value = item.partition("=")
            if key not in by_key or not (value == "max" or (value.isascii() and value.isdigit())):
                raise ThrottleError(f"{path}: unexpected entry {item[:40]!r}")
            values[by_key[key]] = None if value == "max" else int(value)
        yield _device(path, parts[0]), ContainerLimits(**values)


def _device(path: str, text: str) -> Device:
    major, sep, minor = text.partition(":")
    if not sep or not (major.isascii() and major.isdigit() and minor.isascii() and minor.isdigit()):
        raise ThrottleError(f"{path}: unexpected device {text[:40]!r}")
    return Device(int(major), int(minor))
