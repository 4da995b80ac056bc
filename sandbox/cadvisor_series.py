"""What one container's cAdvisor disk IO series are: identity and labels, rates, counters.

:class:`ContainerSeries` says whose series they are and how kubelet labels them (the cgroup
path in ``id`` under either cgroup driver, standalone cAdvisor's reduced labels);
:class:`Rates` and :class:`Counters` are what the exporter serves and :mod:`sandbox.history`
backfills; :class:`Phase` is a stretch of a container's past.
"""

import uuid
from dataclasses import dataclass
from typing import Literal

Driver = Literal["systemd", "cgroupfs"]
QosClass = Literal["guaranteed", "burstable", "besteffort"]

#: (metric name, help text); the order matches :class:`Counters`' fields.
METRICS: tuple[tuple[str, str], ...] = (
    ("container_fs_reads_total", "Cumulative count of reads completed"),
    ("container_fs_writes_total", "Cumulative count of writes completed"),
    ("container_fs_reads_bytes_total", "Cumulative count of bytes read"),
    ("container_fs_writes_bytes_total", "Cumulative count of bytes written"),
)
PAUSE_IMAGE = "registry.k8s.io/pause:3.9"
#: What the pause container does on its own: a little, so ignoring it is visible in tests.
PAUSE_WRITE_IOPS = 3.0


@dataclass(frozen=True)
class Rates:
    """Per-second IO of one container on one device."""

    read_iops: float = 0.0
    write_iops: float = 0.0
    read_bps: float = 0.0
    write_bps: float = 0.0


@dataclass(frozen=True)
class Counters:
    """The four cumulative counters of one container on one device."""

    reads: float = 0.0
    writes: float = 0.0
    reads_bytes: float = 0.0
    writes_bytes: float = 0.0

    def advanced(self, rates: Rates, seconds: float) -> "Counters":
        return Counters(
            self.reads + rates.read_iops * seconds,
            self.writes + rates.write_iops * seconds,
            self.reads_bytes + rates.read_bps * seconds,
            self.writes_bytes + rates.write_bps * seconds,
        )

    def plus(self, other: "Counters") -> "Counters":
        return Counters(
            self.reads + other.reads,
            self.writes + other.writes,
            self.reads_bytes + other.reads_bytes,
            self.writes_bytes + other.writes_bytes,
        )

    def values(self) -> tuple[float, float, float, float]:
        return (self.reads, self.writes, self.reads_bytes, self.writes_bytes)


@dataclass(frozen=True)
class Phase:
    """A stretch of a container's past: ``seconds`` long at ``rates``."""

    seconds: float
    rates: Rates


def pod_uid(namespace: str, pod: str) -> str:
    """A stable made-up pod UID, so a test can predict the ``id`` label."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pod/{namespace}/{pod}"))


def container_id(namespace: str, pod: str, container: str) -> str:
    """A stable made-up 64-hex container ID."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"ctr/{namespace}/{pod}/{container}").hex * 2


@dataclass(frozen=True)
class ContainerSeries:
    """Who one set of series belongs to, and how its labels look.

    ``uid`` and ``cid`` default to stable values derived from the names. ``container=""``
    is the pod-level cgroup, ``container="POD"`` the pause container.
    """

    namespace: str
    pod: str
    container: str
    device: str = "/dev/nvme0n1"
    uid: str = ""
    cid: str = ""
    image: str = "registry.example/app:1"
    driver: Driver = "systemd"
    qos: QosClass = "burstable"
    standalone: bool = False

    def __post_init__(self) -> None:
        # Frozen, yet the derived defaults belong to the identity (hash, equality).
        if not self.uid:
            object.__setattr__(self, "uid", pod_uid(self.namespace, self.pod))
        if not self.cid and self.container:
            object.__setattr__(self, "cid", container_id(self.namespace, self.pod, self.container))

    def cgroup_path(self) -> str:
        """The ``id`` label: the cgroup path, as kubelet's cgroup driver names it."""
        if self.driver == "systemd":
            uid = self.uid.replace("-", "_")
            if self.qos == "guaranteed":
                pod = f"/kubepods.slice/kubepods-pod{uid}.slice"
            else:
                pod = (
                    f"/kubepods.slice/kubepods-{self.qos}.slice/kubepods-{self.qos}-pod{uid}.slice"
                )
            return f"{pod}/cri-containerd-{self.cid}.scope" if self.cid else pod
        qos = "" if self.qos == "guaranteed" else f"/{self.qos}"
        pod = f"/kubepods{qos}/pod{self.uid}"
        return f"{pod}/{self.cid}" if self.cid else pod

    def labels(self) -> dict[str, str]:
        if self.standalone:
            return {"device": self.device, "id": self.cgroup_path(), "name": self.cid}
        return {
            "container": self.container,
            "device": self.device,
            "id": self.cgroup_path(),
            "image": self.image if self.container else "",
            "name": self.cid,
            "namespace": self.namespace,
            "pod": self.pod,
        }


def format_labels(labels: dict[str, str]) -> str:
    return ",".join(f'{key}="{escape(value)}"' for key, value in sorted(labels.items()))


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
