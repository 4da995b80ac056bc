"""Inside a VM with a real cgroup2 mount: the node writer's own v2 code, measured with dd.

scripts/vm-cgroup-v2.sh boots a kernel, mounts cgroup2 with ``+io`` at the root, and runs this
module once (Python starts slowly under emulation, so everything happens in one process). It
builds a systemd-driver pod layout, lets the writer's Reconciler apply ``write-iops`` and
``read-iops`` annotations to the virtio disk, reads ``io.max`` back, runs ``dd`` direct IO
inside the container cgroup, checks show/reset and a resync on the real files, changes one
key, clears the limits by removing the annotations, measures again, resolves a partition to
its disk, applies a limit in the cgroupfs driver's layout, and checks the refusal when a pod's
slice does not enable the io controller. Each finding is one ``RESULT <key> <value>`` line on
stdout; sandbox.iomax_vm parses them on the host.

It overwrites the disk it is given, so it refuses any disk but the VM's throwaway one, which
the script marks with a virtio serial number.
"""

import argparse
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from iops_limit.annotations import READ_IOPS, WRITE_IOPS, ContainerLimits
from iops_limit.label_selectors import parse_label_selector
from node_writer.cgroup_paths import CgroupLayout, detect_layout
from node_writer.devices import Device, resolve_devices
from node_writer.metrics import WriterMetrics
from node_writer.node_state import applied_limits, reset
from node_writer.pods import Exclusions, PodView, pod_view
from node_writer.reconciler import Reconciler, describe
from node_writer.throttle import KernelFiles, ThrottleError, V2Throttle

LIMIT = 100
IOS = 400  # 4 s at the limit: the throttle's first slice lets ~10 IOs through at once
LIMITED_POD = "0f4c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
REFUSED_POD = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"  # its slice does not pass io down
CGROUPFS_POD = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"  # laid out by the cgroupfs driver, CRI-O
CRIO_ID = "ef" * 32
VM_DISK_SERIAL = "iops-limiter-vm-disk"  # scripts/vm-cgroup-v2.sh gives the scratch disk this
_DD_SECONDS = re.compile(r"copied, ([0-9.e-]+) s")


class DriverError(Exception):
    """The VM run cannot go on; the message says why."""


def result(key: str, value: object = "") -> None:
    print(f"RESULT {key} {value}".rstrip(), flush=True)


class RecordingFiles(KernelFiles):
    """The real files, remembering what was written so the host can check "only what changes"."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, path: str, text: str) -> None:
        self.written.append(text)
        super().write(path, text)


class Events:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str]] = []

    def __call__(self, pod: PodView, reason: str, message: str, warning: bool) -> None:
        self.posted.append((reason, message))


def pod_json(uid: str, container_id: str, annotations: dict[str, str]) -> dict[str, Any]:
    """A Burstable pod with one container, as the API server would send it."""
    return {
        "metadata": {
            "name": "noisy",
            "namespace": "team-a",
            "uid": uid,
            "annotations": annotations,
        },
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
        "status": {
            "qosClass": "Burstable",
            "containerStatuses": [{"name": "app", "containerID": container_id}],
        },
    }


def make_container_cgroup(layout: CgroupLayout, pod: PodView, io_in_pod: bool) -> str:
    """The container's cgroup with io enabled for it top-down, as systemd does for IO accounting;
    ``io_in_pod=False`` leaves io out of the pod slice's subtree_control.
    """
    cgroup = layout.container_dir(pod.uid, pod.qos, pod.containers[0].container_id or "")
    os.makedirs(cgroup)
    levels = os.path.relpath(os.path.dirname(cgroup), layout.root).split(os.sep)
    directory = layout.root
    for name in ["", *levels]:
        directory = os.path.join(directory, name)
        if io_in_pod or directory != os.path.dirname(cgroup):
            with open(os.path.join(directory, "cgroup.subtree_control"), "w") as control:
                control.write("+io")
    return cgroup


def direct_io(cgroup: str, direction: str, device: str) -> tuple[int, float]:
    """dd with O_DIRECT inside the cgroup: (IOs, dd's own seconds for them)."""
    args = (
        f"if=/dev/zero of={device} oflag=direct"
        if direction == "write"
        else f"if={device} of=/dev/null iflag=direct"
    )
    script = f'echo $$ > "$1/cgroup.procs" && exec dd {args} bs=4096 count={IOS}'
    done = subprocess.run(
        ["sh", "-c", script, "sh", cgroup], check=False, capture_output=True, text=True, timeout=120
    )
    match = _DD_SECONDS.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise DriverError(f"dd {args} failed ({done.returncode}): {done.stderr.strip()}")
    return IOS, float(match.group(1))


def measure(label: str, cgroup: str, device: str) -> None:
    for direction in ("write", "read"):
        ios, seconds = direct_io(cgroup, direction, device)
        result(f"{direction}_{label}", f"ios={ios} seconds={seconds:.3f} iops={ios / seconds:.1f}")


def io_max(cgroup: str) -> str:
    with open(os.path.join(cgroup, "io.max"), encoding="ascii") as file:
        return file.read().strip() or "(empty)"


def partition(cgroup: str, name: str) -> None:
    """The writer throttles a partition's disk; the kernel itself refuses the partition."""
    with open(f"/sys/class/block/{os.path.basename(name)}/dev", encoding="ascii") as file:
        number = Device(*(int(part) for part in file.read().split(":")))
    (disk,) = resolve_devices("", (name,), "/proc/self/mountinfo", "/sys")
    result("partition", f"{number} disk={disk}")
    try:
        V2Throttle(KernelFiles()).apply(cgroup, number, ContainerLimits(write_iops=LIMIT))
    except ThrottleError as error:
        result("partition_refused", error)
    else:
        result("partition_refused", "no: the kernel took a partition's number")


def check_scratch_disk(name: str) -> None:
    """Refuse to overwrite any disk but the VM's scratch disk."""
    serial_file = f"/sys/class/block/{os.path.basename(name)}/serial"
    try:
        with open(serial_file, encoding="ascii") as file:
            serial = file.read().strip()
    except OSError:
        serial = "(none)"
    if serial != VM_DISK_SERIAL:
        raise DriverError(
            f"refusing to overwrite {name}: its serial is {serial!r}, not {VM_DISK_SERIAL!r}; "
            "this driver runs only inside scripts/vm-cgroup-v2.sh's VM"
        )


def make_reconciler(
    layout: CgroupLayout, device: Device, throttle: V2Throttle, events: Events
) -> Reconciler:
    return Reconciler(
        layout=layout,
        devices=(device,),
        throttle=throttle,
        exclusions=Exclusions(frozenset(), parse_label_selector(""), ()),
        default_iops=0,
        events=events,
        metrics=WriterMetrics(),
    )


def cgroupfs_layout(cgroup_root: str, device: Device) -> None:
    """The cgroupfs driver's layout (``kubepods/burstable/pod<uid>/crio-<id>``) on this kernel."""
    layout = CgroupLayout(cgroup_root, "v2", "cgroupfs")
    pod = pod_view(pod_json(CGROUPFS_POD, f"cri-o://{CRIO_ID}", {WRITE_IOPS: f"{LIMIT}"}))
    cgroup = make_container_cgroup(layout, pod, io_in_pod=True)
    make_reconciler(layout, device, V2Throttle(KernelFiles()), Events()).update(pod)
    result("cgroupfs_cgroup", os.path.relpath(cgroup, cgroup_root))
    result("cgroupfs_iomax", io_max(cgroup))


def run(cgroup_root: str, device_name: str, partition_name: str) -> None:
    check_scratch_disk(device_name)
    os.mkdir(os.path.join(cgroup_root, "kubepods.slice"))  # what the kubelet creates first
    layout = detect_layout(cgroup_root)
    result("layout", f"{layout.version} {layout.driver}")
    (device,) = resolve_devices("", (device_name,), "/proc/self/mountinfo", "/sys")
    result("device", device)
    files = RecordingFiles()
    throttle = V2Throttle(files)
    events = Events()
    reconciler = make_reconciler(layout, device, throttle, events)
    uid, container_id = LIMITED_POD, "containerd://" + "ab" * 32
    limited = pod_view(pod_json(uid, container_id, {WRITE_IOPS: f"{LIMIT}", READ_IOPS: f"{LIMIT}"}))
    cgroup = make_container_cgroup(layout, limited, io_in_pod=True)
    result("cgroup", os.path.relpath(cgroup, cgroup_root))

    reconciler.update(limited)
    result("iomax_limited", io_max(cgroup))
    measure("limited", cgroup, device_name)
    # show and reset (the emergency brake) read the files alone; a resync then restores them.
    for applied in applied_limits(layout, throttle):
        result("show", f"{applied.pod_uid} {applied.device} {describe(applied.limits)}")
    result("reset", len(reset(layout, throttle, (device,))))
    result("iomax_reset", io_max(cgroup))
    reconciler.resync()
    result("iomax_resynced", io_max(cgroup))
    changed = {WRITE_IOPS: f"{LIMIT}", READ_IOPS: f"{2 * LIMIT}"}
    reconciler.update(pod_view(pod_json(uid, container_id, changed)))
    result("iomax_changed", io_max(cgroup))
    reconciler.update(pod_view(pod_json(uid, container_id, {})))
    result("iomax_cleared", io_max(cgroup))
    measure("cleared", cgroup, device_name)
    for text in files.written:
        result("written", text)
    partition(cgroup, partition_name)
    cgroupfs_layout(cgroup_root, device)

    # A pod whose slice does not pass io down: its container cgroup has no io.max at all.
    refused = pod_view(pod_json(REFUSED_POD, "containerd://" + "cd" * 32, changed))
    refused_cgroup = make_container_cgroup(layout, refused, io_in_pod=False)
    result("refused_has_iomax", os.path.exists(os.path.join(refused_cgroup, "io.max")))
    reconciler.update(refused)
    for reason, message in events.posted:
        result("event", f"{reason} {message}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.iomax_vm_driver")
    parser.add_argument("--cgroup-root", required=True)
    parser.add_argument("--device", required=True, help="the whole disk to throttle")
    parser.add_argument("--partition", required=True, help="a partition of that disk")
    args = parser.parse_args(argv)
    with open("/proc/uptime", encoding="ascii") as uptime:
        result("uptime_imported", uptime.read().split()[0])
    try:
        run(args.cgroup_root, args.device, args.partition)
    except Exception:
        for line in traceback.format_exc().splitlines():
            result("FAIL", line)
        return 1
    result("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
