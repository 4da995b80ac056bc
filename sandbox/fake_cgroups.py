"""A cgroup tree of plain files under a temporary root, and file access that acts like the kernel.

Plain files replace their content on every write, but the kernel's throttle files merge: v1
``blkio.throttle.*_device`` keeps one line per device (``MAJ:MIN 0`` removes it) and v2
``io.max`` updates only the keys written. :class:`KernelLikeFiles` gives the node writer those
semantics over the plain tree, so tests and benchmarks exercise its real read/write logic.
"""

import errno
import os
import re
import threading

from node_writer.cgroup_paths import CgroupLayout

V1_THROTTLE_FILES = tuple(
    f"blkio.throttle.{name}_device" for name in ("read_iops", "write_iops", "read_bps", "write_bps")
)
_V1_WRITE = re.compile(r"([0-9]+:[0-9]+) ([0-9]+)\n?")
_V2_WRITE = re.compile(r"([0-9]+:[0-9]+)((?: (?:rbps|wbps|riops|wiops)=(?:max|[0-9]+))+)\n?")
_V2_ORDER = ("rbps", "wbps", "riops", "wiops")


class KernelLikeFiles:
    """Plain files with the kernel's merge-on-write semantics for throttle files.

    ``writes`` counts writes, so tests can check that nothing was rewritten.
    """

    def __init__(self) -> None:
        self.writes = 0
        self._lock = threading.Lock()

    def read(self, path: str) -> str:
        with open(path, encoding="ascii") as file:
            return file.read()

    def write(self, path: str, text: str) -> None:
        with self._lock:
            self.writes += 1
            name = os.path.basename(path)
            current = self.read(path)
            if name in V1_THROTTLE_FILES:
                new = _merge_v1(current, text)
            elif name == "io.max":
                new = _merge_v2(current, text)
            else:
                new = text
            with open(path, "w", encoding="ascii") as file:
                file.write(new)


def _merge_v1(current: str, text: str) -> str:
    match = _V1_WRITE.fullmatch(text)
    if match is None:
        raise OSError(errno.EINVAL, "Invalid argument")
    lines = dict(line.split(" ", 1) for line in current.splitlines() if line)
    device, value = match.groups()
    if int(value) == 0:
        lines.pop(device, None)
    else:
        lines[device] = str(int(value))
    return "".join(f"{dev} {val}\n" for dev, val in sorted(lines.items()))


def _merge_v2(current: str, text: str) -> str:
    match = _V2_WRITE.fullmatch(text)
    if match is None:
        raise OSError(errno.EINVAL, "Invalid argument")
    table: dict[str, dict[str, str]] = {}
    for line in current.splitlines():
        if line:
            dev, *items = line.split()
            table[dev] = dict(item.partition("=")[::2] for item in items)
    device, written = match.groups()
    entry = table.setdefault(device, dict.fromkeys(_V2_ORDER, "max"))
    for item in written.split():
        key, value = item.split("=", 1)
        entry[key] = value
    if all(value == "max" for value in entry.values()):
        del table[device]
    return "".join(
        f"{dev} " + " ".join(f"{key}={entry[key]}" for key in _V2_ORDER) + "\n"
        for dev, entry in sorted(table.items())
    )


def make_tree(root: str, version: str, driver: str) -> CgroupLayout:
    """An empty kubelet-style tree: the kubepods parent, with the io controller enabled (v2)."""
    layout = CgroupLayout(root, version, driver)
    if version == "v2":
        _touch(os.path.join(root, "cgroup.controllers"), "cpu io memory pids\n")
    os.makedirs(layout.kubepods(), exist_ok=True)
    return layout


def add_container(
    layout: CgroupLayout, uid: str, qos: str, container_id: str, io_enabled: bool = True
) -> str:
    """Create the container's cgroup directory and its throttle files; return the directory."""
    path = layout.container_dir(uid, qos, container_id)
    os.makedirs(path, exist_ok=True)
    if layout.version == "v1":
        for name in V1_THROTTLE_FILES:
            _touch(os.path.join(path, name), "")
    else:
        _touch(os.path.join(path, "io.max"), "")
        directory = path
        while os.path.normpath(directory) != os.path.normpath(layout.root):
            directory = os.path.dirname(directory)
            _touch(os.path.join(directory, "cgroup.subtree_control"), "io\n" if io_enabled else "")
    return path


def _touch(path: str, content: str) -> None:
    if not os.path.exists(path):
        with open(path, "w", encoding="ascii") as file:
            file.write(content)
