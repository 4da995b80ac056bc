"""Pods -> cgroup files over fake trees: apply, clear, invalid, defaults, exclusions, restarts."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iops_limit.annotations import ContainerLimits
from node_writer.cgroup_paths import QOS_CLASSES, RUNTIME_SCOPE_PREFIX, CgroupLayout
from node_writer.pods import pod_view
from node_writer.reconciler import APPLIED, CLEARED, FAILED, INVALID
from tests.iops_limit.test_annotations import HOSTILE_VALUES
from tests.node_writer.helpers import (
    create_cgroups,
    harness,
    new_container_id,
    pod_json,
    restarted,
    with_annotations,
)

MakeTree = Callable[[str, str], CgroupLayout]
WRITE_200 = {"iops-limit/write-iops": "200"}


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("driver", ["systemd", "cgroupfs"])
@pytest.mark.parametrize("runtime", sorted(RUNTIME_SCOPE_PREFIX))
@pytest.mark.parametrize("qos", QOS_CLASSES)
def test_annotation_reaches_the_container_cgroup_in_every_layout(
    make_cgroup_tree: MakeTree, version: str, driver: str, runtime: str, qos: str
) -> None:
    writer = harness(make_cgroup_tree(version, driver))
    pod = create_cgroups(writer.layout, pod_json(annotations=WRITE_200, qos=qos, runtime=runtime))
    writer.reconciler.update(pod)
    assert writer.limits_of(pod, "app") == ContainerLimits(write_iops=200)
    assert writer.events.reasons() == [APPLIED]


def test_annotation_removed_clears_the_limit(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v1", "systemd"))
    raw = pod_json(annotations={"iops-limit/limit": "300", "iops-limit/write-bps": "1000000"})
    pod = create_cgroups(writer.layout, raw)
    writer.reconciler.update(pod)
    assert writer.limits_of(pod, "app") == ContainerLimits(300, 300, None, 1_000_000)
    writer.reconciler.update(pod_view(with_annotations(raw, {"team": "a"})))
    assert writer.limits_of(pod, "app") == ContainerLimits()
    assert writer.events.reasons() == [APPLIED, CLEARED]


def test_only_the_named_container_is_limited(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v2", "systemd"))
    raw = pod_json(containers=("app", "mysql"), annotations={"iops-limit/write-iops.mysql": "80"})
    pod = create_cgroups(writer.layout, raw)
    writer.reconciler.update(pod)
    assert writer.limits_of(pod, "mysql") == ContainerLimits(write_iops=80)
    assert writer.limits_of(pod, "app") == ContainerLimits()


def test_invalid_value_keeps_the_last_good_limits_and_warns_once(
    make_cgroup_tree: MakeTree,
) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    raw = pod_json(annotations=WRITE_200)
    pod = create_cgroups(writer.layout, raw)
    writer.reconciler.update(pod)
    bad = pod_view(with_annotations(raw, {"iops-limit/write-iops": "50\n259:0 0"}))
    writer.reconciler.update(bad)
    writer.reconciler.resync()
    assert writer.limits_of(pod, "app") == ContainerLimits(write_iops=200)
    assert writer.events.reasons() == [APPLIED, INVALID]
    _, _, message, warning = writer.events.posted[-1]
    assert warning
    assert "iops-limit/write-iops" in message
    assert "'50\\n259:0 0'" in message
    assert "keeping the last valid limits" in message


def test_invalid_value_on_a_new_pod_writes_nothing(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v2", "cgroupfs"))
    pod = create_cgroups(writer.layout, pod_json(annotations={"iops-limit/limit": "-5"}))
    writer.reconciler.update(pod)
    assert writer.files.writes == 0
    assert writer.events.reasons() == [INVALID]
    assert "nothing is written" in writer.events.posted[0][2]


def test_fixed_annotation_applies_after_an_invalid_one(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    raw = pod_json(annotations={"iops-limit/limit": "1e3"})
    pod = create_cgroups(writer.layout, raw)
    writer.reconciler.update(pod)
    writer.reconciler.update(pod_view(with_annotations(raw, {"iops-limit/limit": "1000"})))
    assert writer.limits_of(pod, "app") == ContainerLimits(1000, 1000)


def test_container_restart_with_a_new_id_gets_the_limit_again(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v1", "systemd"))
    raw = pod_json(annotations=WRITE_200)
    writer.reconciler.update(create_cgroups(writer.layout, raw))
    again = create_cgroups(writer.layout, restarted(raw))
    writer.reconciler.update(again)
    assert writer.limits_of(again, "app") == ContainerLimits(write_iops=200)
    assert writer.events.reasons() == [APPLIED, APPLIED]


def test_restarted_writer_restores_exactly_the_annotated_state(make_cgroup_tree: MakeTree) -> None:
    layout = make_cgroup_tree("v2", "systemd")
    limited = pod_json("limited", annotations=WRITE_200)
    released = pod_json("released", annotations={"iops-limit/read-iops": "70"})
    views = [create_cgroups(layout, raw) for raw in (limited, released)]
    harness(layout).reconciler.replace_all(views)
    # While no writer ran: one pod's limit was released, the other's file was emptied by hand.
    limited_cgroup = layout.container_dir(
        views[0].uid, views[0].qos, views[0].containers[0].container_id or ""
    )
    Path(limited_cgroup, "io.max").write_text("")
    now = [views[0], pod_view(with_annotations(released, {}))]

    restarted_writer = harness(layout)
    restarted_writer.reconciler.replace_all(now)
    assert restarted_writer.limits_of(views[0], "app") == ContainerLimits(write_iops=200)
    assert restarted_writer.limits_of(views[1], "app") == ContainerLimits()
    assert restarted_writer.files.writes == 2

    another = harness(layout)
    another.reconciler.replace_all(now)
    assert another.files.writes == 0, "a writer finding the files right must not rewrite them"
    assert another.events.posted == []


def test_resync_repairs_a_limit_changed_behind_its_back(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    pod = create_cgroups(writer.layout, pod_json(annotations=WRITE_200))
    writer.reconciler.update(pod)
    cgroup = writer.layout.container_dir(pod.uid, pod.qos, pod.containers[0].container_id or "")
    Path(cgroup, "blkio.throttle.write_iops_device").write_text("")
    writer.reconciler.resync()
    assert writer.limits_of(pod, "app") == ContainerLimits(write_iops=200)


def test_container_without_a_cgroup_yet_is_applied_once_it_appears(
    make_cgroup_tree: MakeTree,
) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    raw = pod_json(annotations=WRITE_200)
    writer.reconciler.update(pod_view(raw))
    assert writer.events.reasons() == []
    pod = create_cgroups(writer.layout, raw)
    writer.reconciler.resync()
    assert writer.limits_of(pod, "app") == ContainerLimits(write_iops=200)


def test_default_limit_covers_unannotated_containers_only(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"), default_iops=500)
    raw = pod_json(
        containers=("app", "batch", "free"),
        annotations={"iops-limit/write-iops.batch": "100", "iops-limit/limit.free": "0"},
    )
    pod = create_cgroups(writer.layout, raw)
    writer.reconciler.update(pod)
    assert writer.limits_of(pod, "app") == ContainerLimits(500, 500)
    assert writer.limits_of(pod, "batch") == ContainerLimits(write_iops=100)
    assert writer.limits_of(pod, "free") == ContainerLimits()


def test_excluded_pods_and_containers_are_never_touched(make_cgroup_tree: MakeTree) -> None:
    writer = harness(
        make_cgroup_tree("v2", "cgroupfs"), default_iops=500, exclude_selector="tier in (db)"
    )
    pods = [
        pod_json("sys", namespace="kube-system", annotations=WRITE_200),
        pod_json("db", labels={"tier": "db"}, annotations=WRITE_200),
        pod_json("mesh", containers=("istio-proxy",), annotations=WRITE_200),
        pod_json("img", image="docker.io/library/pause:3.9", annotations=WRITE_200),
    ]
    writer.reconciler.replace_all(create_cgroups(writer.layout, raw) for raw in pods)
    assert writer.files.writes == 0
    assert writer.events.posted == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("uid", "../../../../etc"),
        ("uid", "0f4c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b/../x"),
        ("containerID", "containerd://../../../../tmp/x"),
        ("containerID", "containerd://" + "a" * 63 + "\x00"),
        ("containerID", "containerd://" + "a" * 4096),
        ("containerID", "docker://" + "a" * 64 + "/.."),
    ],
)
def test_hostile_uid_or_container_id_never_reaches_a_file(
    make_cgroup_tree: MakeTree, tmp_path: Path, field: str, value: str
) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    raw = pod_json(annotations=WRITE_200)
    if field == "uid":
        raw["metadata"]["uid"] = value
    else:
        raw["status"]["containerStatuses"][0]["containerID"] = value
    before = sorted(os.walk(tmp_path))
    writer.reconciler.update(pod_view(raw))
    assert sorted(os.walk(tmp_path)) == before
    assert writer.files.writes == 0
    assert writer.events.reasons() == [FAILED]
    assert "refusing" in writer.events.posted[0][2]


def test_a_failing_write_is_reported_once_until_it_changes(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v2", "cgroupfs"))
    pod = create_cgroups(writer.layout, pod_json(annotations=WRITE_200), io_enabled=False)
    writer.reconciler.update(pod)
    writer.reconciler.resync()
    assert writer.events.reasons() == [FAILED]
    assert "io controller is not enabled" in writer.events.posted[0][2]


def test_metrics_show_applied_limits_and_forget_deleted_pods(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    pod = create_cgroups(writer.layout, pod_json(annotations=WRITE_200))
    writer.reconciler.update(pod)
    registry = writer.metrics.registry
    labels = {"namespace": "team-a", "pod": "web", "container": "app", "direction": "write_iops"}
    assert registry.get_sample_value("iops_node_writer_limit", labels) == 200
    assert registry.get_sample_value("iops_node_writer_limited_containers") == 1
    assert registry.get_sample_value("iops_node_writer_writes_total", {"result": "ok"}) == 1
    assert registry.get_sample_value("iops_node_writer_apply_seconds_count") == 1
    writer.reconciler.delete(pod.uid)
    assert registry.get_sample_value("iops_node_writer_limit", labels) is None
    assert registry.get_sample_value("iops_node_writer_limited_containers") == 0
    assert writer.reconciler.pod_count() == 0


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_annotation_value_never_reaches_a_file(
    make_cgroup_tree: MakeTree, value: str
) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    pod = create_cgroups(writer.layout, pod_json(annotations={"iops-limit/write-iops": value}))
    writer.reconciler.update(pod)
    assert writer.files.writes == 0
    assert writer.limits_of(pod, "app") == ContainerLimits()
    assert writer.events.reasons() == [INVALID]


@pytest.mark.parametrize(
    "bad_key",
    ["iops-limit/write-iop", "iops-limit/Write-IOPS", "iops-limit/write-iops.nosuch"],
)
@pytest.mark.parametrize("default_iops", [0, 500])
def test_rejected_annotation_key_keeps_the_last_good_limit(
    make_cgroup_tree: MakeTree, bad_key: str, default_iops: int
) -> None:
    # The rejected set must not count as "no limit key" either: that would hand the container
    # to CONTAINER_IOPS_LIMIT (or clear it) although nothing valid was annotated.
    writer = harness(make_cgroup_tree("v1", "cgroupfs"), default_iops=default_iops)
    raw = pod_json(annotations=WRITE_200)
    pod = create_cgroups(writer.layout, raw)
    writer.reconciler.update(pod)
    writer.reconciler.update(pod_view(with_annotations(raw, {bad_key: "200"})))
    writer.reconciler.resync()
    assert writer.limits_of(pod, "app") == ContainerLimits(write_iops=200)
    assert writer.events.reasons() == [APPLIED, INVALID]
    assert bad_key in writer.events.posted[-1][2]


def with_labels(pod: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    return {**pod, "metadata": {**pod["metadata"], "labels": dict(labels)}}


@pytest.mark.parametrize(
    ("annotations", "default_iops", "limited"),
    [(WRITE_200, 0, ContainerLimits(write_iops=200)), ({}, 500, ContainerLimits(500, 500))],
    ids=["annotated", "default"],
)
def test_pod_excluded_after_being_limited_gets_its_limits_cleared(
    make_cgroup_tree: MakeTree,
    annotations: dict[str, str],
    default_iops: int,
    limited: ContainerLimits,
) -> None:
    writer = harness(
        make_cgroup_tree("v2", "systemd"),
        default_iops=default_iops,
        exclude_selector="tier in (db)",
    )
    raw = pod_json(annotations=annotations)
    pod = create_cgroups(writer.layout, raw)
    writer.reconciler.update(pod)
    assert writer.limits_of(pod, "app") == limited
    writer.reconciler.update(pod_view(with_labels(raw, {"tier": "db"})))
    assert writer.limits_of(pod, "app") == ContainerLimits()
    assert writer.events.reasons() == [APPLIED, CLEARED]
    assert "excluded" in writer.events.posted[-1][2]
    assert writer.metrics.registry.get_sample_value("iops_node_writer_limited_containers") == 0
    # From now on it is never touched again, not even to put back a limit set by hand.
    writes = writer.files.writes
    cgroup = writer.layout.container_dir(pod.uid, pod.qos, pod.containers[0].container_id or "")
    Path(cgroup, "io.max").write_text("259:0 rbps=max wbps=max riops=max wiops=7\n")
    writer.reconciler.resync()
    writer.reconciler.update(pod_view(with_labels(raw, {"tier": "db"})))
    assert writer.files.writes == writes
    assert writer.events.reasons() == [APPLIED, CLEARED]


def test_container_excluded_after_a_new_image_drops_out_of_the_metrics(
    make_cgroup_tree: MakeTree,
) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    raw = pod_json(annotations=WRITE_200)
    writer.reconciler.update(create_cgroups(writer.layout, raw))
    again = restarted(raw)
    again["spec"]["containers"][0]["image"] = "registry.example/istio-proxy:1"
    writer.reconciler.update(create_cgroups(writer.layout, again))
    registry = writer.metrics.registry
    assert registry.get_sample_value("iops_node_writer_limited_containers") == 0


def with_init_containers(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod with a native sidecar (an init container that keeps running) and a plain init
    container that ran to completion."""
    spec = {
        **pod["spec"],
        "initContainers": [
            {"name": "migrate", "image": "registry.example/migrate:1"},
            {"name": "shipper", "image": "registry.example/shipper:1", "restartPolicy": "Always"},
        ],
    }
    statuses = [
        {"name": "migrate", "containerID": new_container_id()},
        {"name": "shipper", "containerID": new_container_id()},
    ]
    return {**pod, "spec": spec, "status": {**pod["status"], "initContainerStatuses": statuses}}


def test_native_sidecar_is_a_container_that_can_be_limited(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v2", "systemd"))
    raw = with_init_containers(pod_json(annotations={"iops-limit/write-iops.shipper": "80"}))
    pod = create_cgroups(writer.layout, raw)
    assert [container.name for container in pod.containers] == ["app", "shipper"]
    writer.reconciler.update(pod)
    assert writer.limits_of(pod, "shipper") == ContainerLimits(write_iops=80)
    assert writer.limits_of(pod, "app") == ContainerLimits()
    assert writer.events.reasons() == [APPLIED]


def test_pod_wide_limit_covers_a_native_sidecar(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    pod = create_cgroups(writer.layout, with_init_containers(pod_json(annotations=WRITE_200)))
    writer.reconciler.update(pod)
    assert writer.limits_of(pod, "shipper") == ContainerLimits(write_iops=200)
    assert writer.limits_of(pod, "app") == ContainerLimits(write_iops=200)
