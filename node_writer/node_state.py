"""What is applied on this node, read back from the cgroup files alone (``show`` and ``reset``).

The files are the only record of what the writer set, so these work without the API server:
``reset`` is the emergency brake, and it must work when the cluster is the thing that broke.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass

from iops_limit.annotations import ContainerLimits
from node_writer.cgroup_paths import CgroupLayout, container_id_from_dir, pod_uid_from_dir
from node_writer.devices import Device
from node_writer.throttle import CgroupGone, Throttle


@dataclass(frozen=True)
class AppliedLimit:
    cgroup: str
    pod_uid: str
    container_id: str
    device: Device
    limits: ContainerLimits


def container_cgroups(layout: CgroupLayout) -> Iterator[tuple[str, str]]:
    """``(directory, raw container ID)`` of every container cgroup under kubepods."""
    top = layout.kubepods()
    root = os.path.realpath(layout.root)
    for directory, subdirs, _ in os.walk(top):
        subdirs.sort()
        if os.path.commonpath([root, os.path.realpath(directory)]) != root:
            continue
        raw_id = container_id_from_dir(os.path.basename(directory))
        if raw_id is not None:
            yield directory, raw_id


def applied_limits(layout: CgroupLayout, throttle: Throttle) -> list[AppliedLimit]:
    found = []
    for cgroup, raw_id in container_cgroups(layout):
        try:
            limits = throttle.read(cgroup)
        except CgroupGone:
            continue
        for device, values in sorted(limits.items()):
            if not values.is_unlimited():
                uid = pod_uid_from_dir(os.path.basename(os.path.dirname(cgroup))) or "-"
                found.append(AppliedLimit(cgroup, uid, raw_id, device, values))
    return found


def reset(
    layout: CgroupLayout, throttle: Throttle, devices: tuple[Device, ...]
) -> list[AppliedLimit]:
    """Clear every limit on ``devices`` in every container cgroup; what was cleared."""
    cleared = []
    for applied in applied_limits(layout, throttle):
        if applied.device in devices:
            try:
                throttle.apply(applied.cgroup, applied.device, ContainerLimits())
            except CgroupGone:
                continue
            cleared.append(applied)
    return cleared
