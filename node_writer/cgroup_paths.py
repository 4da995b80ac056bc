"""Where a container's cgroup is: version x driver x QoS class x container runtime.

Everything that goes into a path is validated first (pod UIDs in RFC 4122 form, container IDs
of 64 hex digits), and the final path must still resolve inside the cgroup root: annotations
and pod status come from the API server, and a path built from them is written to as root.
"""

import os
import re
from dataclasses import dataclass

_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
_POD_DIR = re.compile(r"(?:kubepods-(?:burstable-|besteffort-)?)?pod([0-9a-f_-]{36})(?:\.slice)?")
QOS_CLASSES = ("Guaranteed", "Burstable", "BestEffort")
# containerStatuses[].containerID scheme -> systemd scope prefix of that runtime.
RUNTIME_SCOPE_PREFIX = {"containerd": "cri-containerd", "cri-o": "crio", "docker": "docker"}


class CgroupPathError(Exception):
    """A container whose cgroup path cannot be built safely, or a layout that is not known."""


@dataclass(frozen=True)
class CgroupLayout:
    """How this node's kubelet lays out cgroups; ``base`` is the root of the IO hierarchy."""

    root: str
    version: str  # "v1" or "v2"
    driver: str  # "systemd" or "cgroupfs"

    @property
    def base(self) -> str:
        return os.path.join(self.root, "blkio") if self.version == "v1" else self.root

    def kubepods(self) -> str:
        name = "kubepods.slice" if self.driver == "systemd" else "kubepods"
        return os.path.join(self.base, name)

    def pod_dir(self, uid: str, qos: str) -> str:
        """The pod's cgroup directory (not checked for existence)."""
        if _UID.fullmatch(uid) is None:
            raise CgroupPathError(f"refusing pod UID {uid[:80]!r}: not an RFC 4122 UUID")
        if qos not in QOS_CLASSES:
            raise CgroupPathError(f"refusing QoS class {qos[:40]!r}: not one of {QOS_CLASSES}")
        tier = "" if qos == "Guaranteed" else qos.lower()
        if self.driver == "systemd":
            parent = "kubepods" + (f"-{tier}" if tier else "")
            parts = [f"{parent}.slice"] if tier else []
            parts.append(f"{parent}-pod{uid.replace('-', '_')}.slice")
        else:
            parts = [tier] if tier else []
            parts.append(f"pod{uid}")
        return self._inside(os.path.join(self.kubepods(), *parts))

    def container_dir(self, uid: str, qos: str, container_id: str) -> str:
        """The container's cgroup directory from its status ``containerID`` (``runtime://id``)."""
        runtime, sep, raw_id = container_id.partition("://")
        if not sep or runtime not in RUNTIME_SCOPE_PREFIX:
            raise CgroupPathError(
                f"refusing container ID {container_id[:80]!r}: expected "
                f"<runtime>://<id> with runtime one of {sorted(RUNTIME_SCOPE_PREFIX)}"
            )
        if _CONTAINER_ID.fullmatch(raw_id) is None:
            raise CgroupPathError(f"refusing container ID {raw_id[:80]!r}: not 64 hex digits")
        if self.driver == "systemd":
            leaf = f"{RUNTIME_SCOPE_PREFIX[runtime]}-{raw_id}.scope"
        elif runtime == "cri-o":
            leaf = f"crio-{raw_id}"  # CRI-O prefixes its cgroupfs directories too
        else:
            leaf = raw_id
        return self._inside(os.path.join(self.pod_dir(uid, qos), leaf))

    def _inside(self, path: str) -> str:
        """The path, if it resolves inside the root even after following symlinks."""
        root = os.path.realpath(self.root)
        resolved = os.path.realpath(path)
        if os.path.commonpath([root, resolved]) != root:
            raise CgroupPathError(f"refusing {path}: it resolves to {resolved}, outside {root}")
        return path


def detect_layout(root: str, version: str = "auto", driver: str = "auto") -> CgroupLayout:
    """The layout from settings, filling in ``auto`` from what is mounted under ``root``.

    Version: a ``blkio`` hierarchy means v1 (also on hybrid hosts, where IO throttling lives in
    v1), else ``cgroup.controllers`` at the root means v2. Driver: whichever of
    ``kubepods.slice`` (systemd) or ``kubepods`` (cgroupfs) the kubelet created.
    """
    if version == "auto":
        if os.path.isdir(os.path.join(root, "blkio")):
            version = "v1"
        elif os.path.isfile(os.path.join(root, "cgroup.controllers")):
            version = "v2"
        else:
            raise CgroupPathError(
                f"cannot tell the cgroup version under {root}: neither blkio/ (v1) nor "
                "cgroup.controllers (v2) is there; set CGROUP_VERSION"
            )
    base = CgroupLayout(root, version, "cgroupfs").base
    if driver == "auto":
        if os.path.isdir(os.path.join(base, "kubepods.slice")):
            driver = "systemd"
        elif os.path.isdir(os.path.join(base, "kubepods")):
            driver = "cgroupfs"
        else:
            raise CgroupPathError(
                f"cannot tell the cgroup driver: neither kubepods.slice nor kubepods is in "
                f"{base}; set CGROUP_DRIVER"
            )
    return CgroupLayout(root, version, driver)


def pod_uid_from_dir(name: str) -> str | None:
    """The pod UID of a pod cgroup directory name (either driver), None for other directories."""
    match = _POD_DIR.fullmatch(name)
    if match is None:
        return None
    uid = match.group(1).replace("_", "-")
    return uid if _UID.fullmatch(uid) else None


def container_id_from_dir(name: str) -> str | None:
    """The raw container ID of a container cgroup directory name, None for other directories."""
    prefix, _, name = name.removesuffix(".scope").rpartition("-")
    if prefix and prefix not in RUNTIME_SCOPE_PREFIX.values():
        return None  # e.g. CRI-O's crio-conmon-<id>.scope, the monitor, not the container
    return name if _CONTAINER_ID.fullmatch(name) else None
