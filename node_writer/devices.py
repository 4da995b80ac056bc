"""Which disk to throttle: DATA_MOUNT or DEVICES resolved to whole-disk ``MAJ:MIN`` numbers.

Read from the mount table (``/proc/self/mountinfo``) and sysfs only, never by running df or
lsblk: the DaemonSet image has neither, and parsing their output is more fragile than the
kernel's own files. A partition is replaced by its whole disk because the kernel refuses
throttling rules for partitions.
"""

import os
import re
from dataclasses import dataclass

_MAJ_MIN = re.compile(r"([0-9]{1,10}):([0-9]{1,10})")
_DEV_NAME = re.compile(r"/dev/([A-Za-z0-9][A-Za-z0-9._-]{0,63})")


class DeviceError(Exception):
    """A data mount or device that cannot be resolved to a whole block device."""


@dataclass(frozen=True, order=True)
class Device:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}:{self.minor}"


def resolve_devices(
    data_mount: str, devices: tuple[str, ...], mountinfo_path: str, sys_root: str
) -> tuple[Device, ...]:
    """The whole disks to throttle: ``devices`` when given, else the disk under ``data_mount``."""
    if devices:
        found = {whole_disk(_parse_device(text, sys_root), sys_root) for text in devices}
        return tuple(sorted(found))
    return (whole_disk(mount_device(data_mount, mountinfo_path), sys_root),)


def mount_device(path: str, mountinfo_path: str) -> Device:
    """The device of the mount holding ``path`` (the longest mount point that contains it)."""
    target = os.path.normpath(path)
    try:
        with open(mountinfo_path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError as error:
        raise DeviceError(f"cannot read the mount table {mountinfo_path}: {error}") from None
    best: tuple[str, str, str] | None = None  # mount point, MAJ:MIN, filesystem type
    for number, line in enumerate(lines, start=1):
        fields = line.split(" ")
        if len(fields) < 5:
            raise DeviceError(f"{mountinfo_path}:{number}: not a mountinfo line: {line[:80]!r}")
        mount_point = _unescape(fields[4])
        if _contains(mount_point, target) and (best is None or len(mount_point) >= len(best[0])):
            # After the optional fields, " - " precedes the filesystem type.
            fstype = line.partition(" - ")[2].partition(" ")[0] or "unknown"
            best = (mount_point, fields[2], fstype)
    if best is None:
        raise DeviceError(f"no mount in {mountinfo_path} contains {path}")
    mount_point, numbers, fstype = best
    device = _parse_maj_min(numbers)
    if device is None:
        raise DeviceError(f"{mountinfo_path}: unexpected device {numbers[:40]!r} of {mount_point}")
    if device.major == 0:
        # btrfs and ZFS live on real disks, but like tmpfs, overlay and network filesystems
        # they report an anonymous device, which the kernel cannot throttle.
        raise DeviceError(
            f"{path} is on {mount_point}, whose {fstype} filesystem has no block device of its "
            f"own (anonymous device {numbers}): set DEVICES to the disk(s) under it, e.g. "
            "DEVICES=/dev/nvme0n1, or DATA_MOUNT to a mount point on a block device"
        )
    return device


def whole_disk(device: Device, sys_root: str) -> Device:
    """The disk itself for a partition, the device unchanged for a whole disk."""
    link = os.path.join(sys_root, "dev", "block", str(device))
    if not os.path.exists(link):
        raise DeviceError(f"block device {device} does not exist ({link} is missing)")
    if not os.path.exists(os.path.join(link, "partition")):
        return device
    parent_dev = os.path.join(os.path.realpath(link), os.pardir, "dev")
    try:
        with open(parent_dev, encoding="ascii") as file:
            text = file.read().strip()
    except OSError as error:
        raise DeviceError(f"cannot find the disk of partition {device}: {error}") from None
    parent = _parse_maj_min(text)
    if parent is None:
        raise DeviceError(f"unexpected content {text[:40]!r} in {os.path.normpath(parent_dev)}")
    return parent


def device_exists(device: Device, sys_root: str) -> bool:
    return os.path.exists(os.path.join(sys_root, "dev", "block", str(device)))


def _parse_device(text: str, sys_root: str) -> Device:
    device = _parse_maj_min(text)
    if device is not None:
        return device
    match = _DEV_NAME.fullmatch(text)
    if match is None:
        raise DeviceError(f"invalid device {text!r}: expected /dev/<name> or MAJ:MIN")
    dev_file = os.path.join(sys_root, "class", "block", match.group(1), "dev")
    try:
        with open(dev_file, encoding="ascii") as file:
            numbers = file.read().strip()
    except OSError:
        raise DeviceError(f"device {text} does not exist ({dev_file} is missing)") from None
    device = _parse_maj_min(numbers)
    if device is None:
        raise DeviceError(f"unexpected content {numbers[:40]!r} in {dev_file}")
    return device


def _parse_maj_min(text: str) -> Device | None:
    match = _MAJ_MIN.fullmatch(text)
    return None if match is None else Device(int(match.group(1)), int(match.group(2)))


def _contains(mount_point: str, path: str) -> bool:
    return path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in octal (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)
