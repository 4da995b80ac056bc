"""The real kernel throttles a pod-like cgroup to the annotated IOPS (cgroup v1 blkio, root).

The writer resolves the temp directory's disk with its own device code and writes the limit
through its own reconciler; ``dd oflag=direct`` inside the container cgroup measures the result.
"""

import os
import subprocess
import time
from pathlib import Path

import pytest

from iops_limit.annotations import ContainerLimits
from iops_limit.label_selectors import parse_label_selector
from node_writer.cgroup_paths import CgroupLayout
from node_writer.devices import resolve_devices
from node_writer.metrics import WriterMetrics
from node_writer.pods import Exclusions, pod_view
from node_writer.reconciler import APPLIED, CLEARED, Reconciler
from node_writer.throttle import KernelFiles, V1Throttle
from tests.node_writer.helpers import Events, pod_json, with_annotations

LIMIT = 200
BLOCKS = 800  # 4 s at the limit: enough to wash out the kernel's initial burst allowance


def direct_writes_per_second(cgroup: str, target: Path) -> float:
    """Run dd with O_DIRECT inside the cgroup; 4 KiB writes per second of wall time."""
    script = (
        f'echo $$ > "$1/cgroup.procs" && exec dd if=/dev/zero of="$2" bs=4096 count={BLOCKS} '
        "oflag=direct conv=notrunc status=none"
    )
    started = time.monotonic()
    subprocess.run(["sh", "-c", script, "sh", cgroup, str(target)], check=True, timeout=120)
    return BLOCKS / (time.monotonic() - started)


@pytest.mark.kernel
def test_real_kernel_throttles_to_the_annotated_write_iops_and_clears(
    real_blkio_parent: str, tmp_path: Path
) -> None:
    target = tmp_path / "data.bin"
    with open(target, "wb") as file:  # preallocated, so dd only overwrites blocks
        file.write(b"\0" * 4096 * BLOCKS)
        os.fsync(file.fileno())
    devices = resolve_devices(str(tmp_path), (), "/proc/self/mountinfo", "/sys")
    # CGROUP_ROOT is the unique parent; its "blkio" child plays the v1 blkio mount.
    layout = CgroupLayout(real_blkio_parent, "v1", "cgroupfs")
    raw = pod_json(annotations={"iops-limit/write-iops": str(LIMIT)})
    pod = pod_view(raw)
    container_id = pod.containers[0].container_id or ""
    cgroup = layout.container_dir(pod.uid, pod.qos, container_id)
    os.makedirs(cgroup)  # mkdir in a cgroup filesystem creates real cgroups, all the way down
    events = Events()
    reconciler = Reconciler(
        layout=layout,
        devices=devices,
        throttle=V1Throttle(KernelFiles()),
        exclusions=Exclusions(frozenset(), parse_label_selector(""), ()),
        default_iops=0,
        events=events,
        metrics=WriterMetrics(),
    )

    reconciler.update(pod)
    assert V1Throttle(KernelFiles()).read(cgroup) == {devices[0]: ContainerLimits(write_iops=LIMIT)}
    limited = direct_writes_per_second(cgroup, target)
    print(
        f"device {devices[0]}: limit {LIMIT} write IOPS, measured {limited:.1f} over {BLOCKS} IOs"
    )
    assert 0.85 * LIMIT <= limited <= 1.05 * LIMIT

    reconciler.update(pod_view(with_annotations(raw, {})))
    assert V1Throttle(KernelFiles()).read(cgroup) == {}
    released = direct_writes_per_second(cgroup, target)
    print(f"after clearing: measured {released:.1f} write IOPS")
    assert released > 3 * LIMIT
    assert events.reasons() == [APPLIED, CLEARED]
