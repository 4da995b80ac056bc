"""What is applied on this node, read back from the cgroup files (``show`` and ``reset``).

The files are the only record of limits, so ``show`` works without the API server. They do not
say who wrote a limit, so ``reset`` narrows itself to what the writer would have set: the
containers of this node's pods that the API lists and the exclusions leave in. ``reset`` is
also the emergency brake, which must work when the cluster is the thing that broke: without
the API it clears every container cgroup under the kubelet's kubepods hierarchy, which is the
only place the writer ever writes, and never anything outside it.
"""

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from iops_limit.annotations import ContainerLimits
from node_writer.cgroup_paths import (
    CgroupLayout,
    CgroupPathError,
    container_id_from_dir,
    pod_uid_from_dir,
)
from node_writer.devices import Device
from node_writer.pods import Exclusions, PodView
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


def pod_cgroups(
    layout: CgroupLayout, pods: Iterable[PodView], exclusions: Exclusions
) -> Iterator[tuple[str, str]]:
    """``(directory, raw container ID)`` of the running containers the writer may limit."""
    for pod in pods:
        if exclusions.pod(pod):
            continue
        for container in pod.containers:
            if container.container_id is None or exclusions.container(container):
                continue
            try:
                directory = layout.container_dir(pod.uid, pod.qos, container.container_id)
            except CgroupPathError:
                continue  # the writer refuses such a pod too: it never wrote there
            raw_id = container_id_from_dir(os.path.basename(directory))
            if raw_id is not None and os.path.isdir(directory):
                yield directory, raw_id


def applied_limits(
    layout: CgroupLayout, throttle: Throttle, cgroups: Iterable[tuple[str, str]] | None = None
) -> list[AppliedLimit]:
    """The limits in ``cgroups`` (default: every container cgroup under kubepods)."""
    found = []
    for cgroup, raw_id in container_cgroups(layout) if cgroups is None else cgroups:
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
    layout: CgroupLayout,
    throttle: Throttle,
    devices: tuple[Device, ...],
    cgroups: Iterable[tuple[str, str]] | None = None,
) -> list[AppliedLimit]:
    """Clear the limits on ``devices`` in ``cgroups`` (default: every container cgroup under
    kubepods); what was cleared."""
    cleared = []
    for applied in applied_limits(layout, throttle, cgroups):
        if applied.device in devices:
            try:
                throttle.apply(applied.cgroup, applied.device, ContainerLimits())
            except CgroupGone:
                continue
            cleared.append(applied)
    return cleared
