"""Pods in the API's JSON form and a writer wired to a fake tree, for node writer tests."""

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from iops_limit.annotations import ContainerLimits
from iops_limit.label_selectors import parse_label_selector
from node_writer.cgroup_paths import CgroupLayout
from node_writer.devices import Device
from node_writer.metrics import WriterMetrics
from node_writer.pods import Exclusions, PodView, pod_view
from node_writer.reconciler import Reconciler
from node_writer.throttle import throttle_for
from sandbox.fake_cgroups import KernelLikeFiles, add_container

DISK = Device(259, 0)
_counter = itertools.count(1)


def new_container_id(runtime: str = "containerd") -> str:
    return f"{runtime}://{next(_counter):064x}"


def pod_json(
    name: str = "web",
    *,
    namespace: str = "team-a",
    containers: tuple[str, ...] = ("app",),
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    qos: str = "Burstable",
    runtime: str = "containerd",
    uid: str | None = None,
    image: str = "registry.example/app:1",
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or str(uuid.uuid4()),
            "annotations": dict(annotations or {}),
            "labels": dict(labels or {}),
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": c, "image": image} for c in containers],
        },
        "status": {
            "qosClass": qos,
            "containerStatuses": [
                {"name": c, "containerID": new_container_id(runtime)} for c in containers
            ],
        },
    }


def with_annotations(pod: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    changed = {**pod, "metadata": {**pod["metadata"], "annotations": dict(annotations)}}
    return changed


def restarted(pod: dict[str, Any], runtime: str = "containerd") -> dict[str, Any]:
    """The same pod after its containers restarted: new container IDs."""
    statuses = [
        {**status, "containerID": new_container_id(runtime)}
        for status in pod["status"]["containerStatuses"]
    ]
    return {**pod, "status": {**pod["status"], "containerStatuses": statuses}}


def create_cgroups(layout: CgroupLayout, pod: dict[str, Any], io_enabled: bool = True) -> PodView:
    """Make the pod's container cgroups exist, as the container runtime would."""
    view = pod_view(pod)
    for container in view.containers:
        assert container.container_id is not None
        add_container(layout, view.uid, view.qos, container.container_id, io_enabled=io_enabled)
    return view


@dataclass
class Events:
    posted: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def __call__(self, pod: PodView, reason: str, message: str, warning: bool) -> None:
        self.posted.append((pod.key, reason, message, warning))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _, _ in self.posted]


@dataclass
class Harness:
    layout: CgroupLayout
    files: KernelLikeFiles
    events: Events
    metrics: WriterMetrics
    reconciler: Reconciler

    def limits_of(self, pod: PodView, container: str) -> ContainerLimits:
        (view,) = [c for c in pod.containers if c.name == container]
        assert view.container_id is not None
        cgroup = self.layout.container_dir(pod.uid, pod.qos, view.container_id)
        return (
            throttle_for(self.layout.version, self.files).read(cgroup).get(DISK, ContainerLimits())
        )


def harness(
    layout: CgroupLayout,
    default_iops: int = 0,
    exclude_namespaces: tuple[str, ...] = ("kube-system",),
    exclude_keywords: tuple[str, ...] = ("pause", "istio-proxy"),
    exclude_selector: str = "",
    *,
    files: KernelLikeFiles | None = None,
) -> Harness:
    files = files or KernelLikeFiles()
    events = Events()
    metrics = WriterMetrics()
    reconciler = Reconciler(
        layout=layout,
        devices=(DISK,),
        throttle=throttle_for(layout.version, files),
        exclusions=Exclusions(
            frozenset(exclude_namespaces), parse_label_selector(exclude_selector), exclude_keywords
        ),
        default_iops=default_iops,
        events=events,
        metrics=metrics,
    )
    return Harness(layout, files, events, metrics, reconciler)
