"""The running writer against the fake API server: watch, faults, restarts, Events, readiness."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from iops_limit.annotations import ContainerLimits
from node_writer.cgroup_paths import CgroupLayout
from node_writer.pods import pod_view
from node_writer.service import NodeSetup, NodeWriter
from node_writer.settings import NodeWriterSettings
from node_writer.throttle import throttle_for
from sandbox.fake_cgroups import KernelLikeFiles
from sandbox.fake_kube import FakeKube
from tests.fixtures.cgroups import FakeHost
from tests.node_writer.helpers import DISK, create_cgroups, restarted, with_annotations

NODE = "node-1"
WRITE_200 = {"iops-limit/write-iops": "200"}


def eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Node:
    """A fake node: its cgroup tree and disk, and node writers started on it."""

    def __init__(self, kube: FakeKube, layout: CgroupLayout, host: FakeHost) -> None:
        self.kube = kube
        self.layout = layout
        self.host = host
        self.files = KernelLikeFiles()
        self.writers: list[NodeWriter] = []
        host.add_disk("nvme0n1", DISK.major, DISK.minor)
        kube.add_node(NODE)

    def start_writer(self) -> NodeWriter:
        settings = NodeWriterSettings(
            node_name=NODE,
            cgroup_root=self.layout.root,
            devices=(str(DISK),),
            sys_root=self.host.sys_root,
            metrics_port=0,
            resync_interval=1.0,
        )
        writer = NodeWriter(
            settings,
            NodeSetup(self.layout, (DISK,)),
            self.kube.api_client(),
            files=self.files,
            first_backoff=0.05,
        )
        writer.start()
        self.writers.append(writer)
        eventually(lambda: writer.ready()[0], "the writer to be ready")
        return writer

    def add_pod(self, name: str, annotations: dict[str, str], node: str = NODE) -> dict[str, Any]:
        pod = self.kube.make_pod("team-a", name, node, annotations=annotations)
        create_cgroups(self.layout, pod)
        return self.kube.add_pod(pod)

    def set_annotations(self, name: str, annotations: dict[str, str]) -> None:
        self.kube.update_pod(with_annotations(self.kube.get_pod("team-a", name), annotations))

    def limits(self, name: str) -> ContainerLimits:
        view = pod_view(self.kube.get_pod("team-a", name))
        container_id = view.containers[0].container_id or ""
        cgroup = self.layout.container_dir(view.uid, view.qos, container_id)
        return (
            throttle_for(self.layout.version, self.files).read(cgroup).get(DISK, ContainerLimits())
        )

    def reasons(self) -> list[str]:
        return [event["reason"] for event in self.kube.events("team-a")]


@pytest.fixture
def node(
    kube_api: FakeKube,
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
    fake_host: FakeHost,
) -> Iterator[Node]:
    the_node = Node(kube_api, make_cgroup_tree("v2", "systemd"), fake_host)
    try:
        yield the_node
    finally:
        for writer in the_node.writers:
            writer.stop()


def test_annotation_change_reaches_the_cgroup_with_an_event(node: Node) -> None:
    node.add_pod("web", {})
    node.start_writer()
    node.set_annotations("web", WRITE_200)
    eventually(lambda: node.limits("web") == ContainerLimits(write_iops=200), "the limit")
    eventually(lambda: "IOPSLimitApplied" in node.reasons(), "the Applied event")
    (event,) = node.kube.events("team-a")
    assert event["involvedObject"]["name"] == "web"
    assert "write_iops=200" in event["message"]


def test_annotation_removed_clears_the_limit_with_an_event(node: Node) -> None:
    node.add_pod("web", WRITE_200)
    node.start_writer()
    eventually(lambda: node.limits("web") == ContainerLimits(write_iops=200), "the limit")
    node.set_annotations("web", {})
    eventually(lambda: node.limits("web") == ContainerLimits(), "the limit cleared")
    eventually(lambda: "IOPSLimitCleared" in node.reasons(), "the Cleared event")


def test_invalid_annotation_warns_and_keeps_the_limit(node: Node) -> None:
    node.add_pod("web", WRITE_200)
    node.start_writer()
    eventually(lambda: node.limits("web") == ContainerLimits(write_iops=200), "the limit")
    node.set_annotations("web", {"iops-limit/write-iops": "+300"})
    eventually(lambda: "InvalidIOPSLimit" in node.reasons(), "the InvalidIOPSLimit event")
    event = node.kube.events("team-a")[-1]
    assert event["type"] == "Warning"
    assert "'+300'" in event["message"]
    assert node.limits("web") == ContainerLimits(write_iops=200)


def test_pods_of_other_nodes_are_not_watched(node: Node) -> None:
    node.kube.add_node("node-2")
    other = node.kube.make_pod("team-a", "elsewhere", "node-2", annotations=WRITE_200)
    create_cgroups(node.layout, other)  # even were its cgroup here, it is not this node's pod
    node.kube.add_pod(other)
    writer = node.start_writer()
    node.add_pod("web", WRITE_200)
    eventually(lambda: node.limits("web") == ContainerLimits(write_iops=200), "the limit")
    assert node.limits("elsewhere") == ContainerLimits()
    assert writer.reconciler.pod_count() == 1


def test_dropped_watch_reconnects_and_catches_up(node: Node) -> None:
    node.add_pod("web", {})
    node.start_writer()
    for value in ("100", "150", "175"):
        node.kube.drop_watches()
        node.set_annotations("web", {"iops-limit/read-iops": value})
        expected = ContainerLimits(read_iops=int(value))

        def applied(expected: ContainerLimits = expected) -> bool:
            return node.limits("web") == expected

        eventually(applied, f"read-iops {value}")


def test_410_gone_relists_and_applies_what_changed_meanwhile(node: Node) -> None:
    node.add_pod("web", {})
    writer = node.start_writer()
    node.set_annotations("web", WRITE_200)
    eventually(lambda: node.limits("web") == ContainerLimits(write_iops=200), "the limit")
    node.kube.compact()
    node.kube.drop_watches()
    node.set_annotations("web", {"iops-limit/write-iops": "90"})
    node.add_pod("new", {"iops-limit/limit": "60"})
    eventually(lambda: node.limits("web") == ContainerLimits(write_iops=90), "the new limit")
    eventually(lambda: node.limits("new") == ContainerLimits(60, 60), "the new pod's limit")
    samples = writer.metrics.registry.get_sample_value(
        "iops_node_writer_watch_restarts_total", {"cause": "expired"}
    )
    assert samples is not None and samples >= 1


def test_server_errors_back_off_and_recover(node: Node) -> None:
    node.add_pod("web", {})
    writer = node.start_writer()
    node.kube.fail_next("GET", r"/api/v1/pods", 500, times=4)
    node.kube.drop_watches()
    node.set_annotations("web", WRITE_200)
    eventually(lambda: node.limits("web") == ContainerLimits(write_iops=200), "the limit")
    failures = writer.metrics.registry.get_sample_value(
        "iops_node_writer_watch_restarts_total", {"cause": "unavailable"}
    )
    assert failures is not None and failures >= 1
    eventually(lambda: writer.ready()[0], "ready again")


def test_container_restart_gets_the_limit_on_its_new_cgroup(node: Node) -> None:
    node.add_pod("web", WRITE_200)
    node.start_writer()
    eventually(lambda: node.limits("web") == ContainerLimits(write_iops=200), "the limit")
    again = restarted(node.kube.get_pod("team-a", "web"))
    create_cgroups(node.layout, again)
    node.kube.update_pod(again)
    eventually(lambda: node.limits("web") == ContainerLimits(write_iops=200), "the limit again")


def test_restarted_writer_restores_the_annotated_state(node: Node) -> None:
    node.add_pod("kept", WRITE_200)
    node.add_pod("released", {"iops-limit/limit": "80"})
    first = node.start_writer()
    eventually(lambda: node.limits("released") == ContainerLimits(80, 80), "the first limits")
    first.stop()
    node.set_annotations("released", {})
    node.add_pod("added", {"iops-limit/write-bps": "1000000"})
    node.start_writer()
    assert node.limits("kept") == ContainerLimits(write_iops=200)
    assert node.limits("released") == ContainerLimits()
    assert node.limits("added") == ContainerLimits(write_bps=1_000_000)


def test_readiness_reports_missing_devices_and_an_unreachable_api(
    node: Node, tmp_path: Path
) -> None:
    writer = node.start_writer()
    assert writer.ready() == (True, "ok")
    node.kube.stop()
    eventually(lambda: writer.ready() == (False, "Kubernetes API unreachable"), "not ready")
    sysfs_link = Path(node.host.sys_root, "dev", "block", str(DISK))
    sysfs_link.unlink()
    assert writer.ready() == (False, f"devices missing: {DISK}")
