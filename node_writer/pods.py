"""The part of a Pod the node writer needs, read from the API's JSON, and who is never touched."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iops_limit.kube import PodRef
from iops_limit.label_selectors import LabelSelector, parse_label_selector
from node_writer.settings import NodeWriterSettings


@dataclass(frozen=True)
class ContainerView:
    name: str
    image: str
    container_id: str | None  # ``runtime://id`` of the running instance, None before it starts


@dataclass(frozen=True)
class PodView:
    namespace: str
    name: str
    uid: str
    qos: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    containers: tuple[ContainerView, ...]

    @property
    def ref(self) -> PodRef:
        return PodRef(self.namespace, self.name, self.uid)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def pod_view(pod: Mapping[str, Any]) -> PodView:
    """Read a pod from its JSON form (list items and watch objects)."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = [
        *(status.get("containerStatuses") or []),
        *(status.get("initContainerStatuses") or []),
    ]
    ids = {item.get("name"): item.get("containerID") or None for item in statuses}
    # Native sidecars (init containers with restartPolicy Always) run beside the app for the
    # pod's life, so they count as containers; plain init containers run to completion first.
    sidecars = [
        item for item in spec.get("initContainers") or [] if item.get("restartPolicy") == "Always"
    ]
    containers = tuple(
        ContainerView(
            str(item.get("name", "")), str(item.get("image", "")), ids.get(item.get("name"))
        )
        for item in [*(spec.get("containers") or []), *sidecars]
    )
    return PodView(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        qos=str(status.get("qosClass") or ""),
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        containers=containers,
    )


@dataclass(frozen=True)
class Exclusions:
    """EXCLUDE_NAMESPACES, EXCLUDE_LABEL_SELECTOR and EXCLUDE_KEYWORDS."""

    namespaces: frozenset[str]
    selector: LabelSelector
    keywords: tuple[str, ...]

    def pod(self, pod: PodView) -> bool:
        # An empty EXCLUDE_LABEL_SELECTOR excludes nothing (an empty selector selects all).
        by_label = bool(self.selector.requirements) and self.selector.matches(pod.labels)
        return pod.namespace in self.namespaces or by_label

    def container(self, container: ContainerView) -> bool:
        return any(
            word in container.name or word in container.image for word in self.keywords if word
        )


def exclusions(settings: NodeWriterSettings) -> Exclusions:
    return Exclusions(
        namespaces=frozenset(settings.exclude_namespaces),
        selector=parse_label_selector(settings.exclude_label_selector),
        keywords=settings.exclude_keywords,
    )
