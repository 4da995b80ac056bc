"""The node writer's settings: every field is an environment variable and a flag (DESIGN.md)."""

from dataclasses import dataclass

from iops_limit.annotations import MAX_IOPS, InvalidLimit, parse_value
from iops_limit.label_selectors import SelectorError, parse_label_selector
from iops_limit.settings import duration_setting, setting


def _version(text: str) -> str:
    value = text.strip().lower()
    if value not in ("auto", "v1", "v2"):
        raise ValueError("expected auto, v1 or v2")
    return value


def _driver(text: str) -> str:
    value = text.strip().lower()
    if value not in ("auto", "systemd", "cgroupfs"):
        raise ValueError("expected auto, systemd or cgroupfs")
    return value


def _default_iops(text: str) -> int:
    """Checked exactly like an annotation value: it is written to the same cgroup files, and
    int() would take '1_0', surrounding spaces and non-ASCII digits."""
    try:
        value = parse_value("CONTAINER_IOPS_LIMIT", text, MAX_IOPS)
    except InvalidLimit as error:
        raise ValueError(error.why) from None
    return value or 0


def _port(text: str) -> int:
    value = int(text.strip())
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number 0..65535")
    return value


def _label_selector(text: str) -> str:
    """Checked at start-up so a typo stops the writer instead of excluding nothing."""
    try:
        parse_label_selector(text)
    except SelectorError as error:
        raise ValueError(f"not a label selector: {error}") from None
    return text


@dataclass(frozen=True)
class NodeWriterSettings:
    node_name: str = setting("", "this node's name, as in spec.nodeName", required=True)
    data_mount: str = setting(
        "/data", "mount point whose disk is throttled (the whole disk when it is a partition)"
    )
    devices: tuple[str, ...] = setting(
        (), "explicit devices overriding DATA_MOUNT: /dev/nvme0n1 or MAJ:MIN, comma-separated"
    )
    cgroup_root: str = setting("/sys/fs/cgroup", "cgroup mount root")
    cgroup_version: str = setting("auto", "auto, v1 or v2", parse=_version)
    cgroup_driver: str = setting("auto", "auto, systemd or cgroupfs", parse=_driver)
    container_iops_limit: int = setting(
        0,
        "read and write IOPS for containers with no limit annotation (0 = off)",
        parse=_default_iops,
    )
    exclude_namespaces: tuple[str, ...] = setting(
        ("kube-system",), "namespaces never touched, comma-separated"
    )
    exclude_keywords: tuple[str, ...] = setting(
        ("pause", "istio-proxy"),
        "containers whose name or image contains one of these are never touched",
    )
    exclude_label_selector: str = setting(
        "", "pods matching this label selector are never touched", parse=_label_selector
    )
    resync_interval: float = duration_setting(
        "30s", "full re-check of every container against the cgroup files"
    )
    metrics_port: int = setting(9100, "port of /metrics, /healthz, /readyz (0 = off)", parse=_port)
    metrics_address: str = setting(
        "0.0.0.0", "address /metrics, /healthz and /readyz listen on (127.0.0.1 for loopback only)"
    )
    kubeconfig: str = setting("", "kubeconfig file (default: in-cluster config)")
    proc_root: str = setting("/proc", "procfs root; the mount table is read from proc_root/self")
    sys_root: str = setting("/sys", "sysfs root, for block devices")

    @property
    def mountinfo_path(self) -> str:
        return f"{self.proc_root.rstrip('/')}/self/mountinfo"
