"""Container cgroup paths for every version x driver x runtime x QoS, and hostile input refused."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from node_writer.cgroup_paths import (
    CgroupLayout,
    CgroupPathError,
    container_id_from_dir,
    detect_layout,
    pod_uid_from_dir,
)

UID = "0f4c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
UID_ = UID.replace("-", "_")
ID = "a1" * 32

BURSTABLE_SLICE = f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice"
BESTEFFORT_SLICE = f"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice"
EXPECTED = {
    ("systemd", "Guaranteed", "containerd"): (
        f"kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope"
    ),
    ("systemd", "Burstable", "containerd"): f"{BURSTABLE_SLICE}/cri-containerd-{ID}.scope",
    ("systemd", "BestEffort", "cri-o"): f"{BESTEFFORT_SLICE}/crio-{ID}.scope",
    ("systemd", "Burstable", "docker"): f"{BURSTABLE_SLICE}/docker-{ID}.scope",
    ("cgroupfs", "Guaranteed", "containerd"): f"kubepods/pod{UID}/{ID}",
    ("cgroupfs", "Burstable", "cri-o"): f"kubepods/burstable/pod{UID}/crio-{ID}",
    ("cgroupfs", "BestEffort", "docker"): f"kubepods/besteffort/pod{UID}/{ID}",
}


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize(("driver", "qos", "runtime"), list(EXPECTED))
def test_container_path_for_each_layout(version: str, driver: str, qos: str, runtime: str) -> None:
    layout = CgroupLayout("/sys/fs/cgroup", version, driver)
    base = "/sys/fs/cgroup/blkio" if version == "v1" else "/sys/fs/cgroup"
    path = layout.container_dir(UID, qos, f"{runtime}://{ID}")
    assert path == f"{base}/{EXPECTED[driver, qos, runtime]}"


@pytest.mark.parametrize(
    ("version", "driver"),
    [("v1", "systemd"), ("v1", "cgroupfs"), ("v2", "systemd"), ("v2", "cgroupfs")],
)
def test_layout_is_detected_from_the_tree(
    make_cgroup_tree: Callable[[str, str], CgroupLayout], version: str, driver: str
) -> None:
    layout = make_cgroup_tree(version, driver)
    assert detect_layout(layout.root) == CgroupLayout(layout.root, version, driver)


def test_settings_override_detection(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("io\n")
    assert detect_layout(str(tmp_path), "v2", "systemd").driver == "systemd"


def test_undetectable_layout_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(CgroupPathError, match="CGROUP_VERSION"):
        detect_layout(str(tmp_path))
    (tmp_path / "cgroup.controllers").write_text("io\n")
    with pytest.raises(CgroupPathError, match="CGROUP_DRIVER"):
        detect_layout(str(tmp_path))


HOSTILE_UIDS = [
    "",
    "..",
    "../../etc",
    "/etc/passwd",
    UID + "/..",
    UID + "\x00",
    UID.upper(),
    UID.replace("-", "_"),
    UID + "0",
    "x" * 5000,
    UID[:-1] + "/",
    UID[:8] + "\n" + UID[9:],
]
HOSTILE_IDS = [
    "",
    "containerd://",
    "containerd://..",
    "containerd://../../../etc",
    f"containerd://{ID}/..",
    f"containerd://{ID}\x00",
    f"containerd://{ID[:-1]}/",
    f"containerd://{ID.upper()}",
    f"containerd://{ID}0",
    "containerd://" + "a" * 5000,
    f"rkt://{ID}",
    ID,
    f"containerd:/{ID}",
    f"containerd://{ID[:63]}\n",
]


@pytest.mark.parametrize("uid", HOSTILE_UIDS)
def test_hostile_uid_is_refused_before_a_path_exists(uid: str) -> None:
    layout = CgroupLayout("/sys/fs/cgroup", "v1", "cgroupfs")
    with pytest.raises(CgroupPathError, match="refusing pod UID"):
        layout.container_dir(uid, "Burstable", f"containerd://{ID}")


@pytest.mark.parametrize("container_id", HOSTILE_IDS)
def test_hostile_container_id_is_refused(container_id: str) -> None:
    layout = CgroupLayout("/sys/fs/cgroup", "v2", "systemd")
    with pytest.raises(CgroupPathError, match="refusing container ID"):
        layout.container_dir(UID, "Burstable", container_id)


@pytest.mark.parametrize("qos", ["", "burstable", "../x", "Guaranteed/.."])
def test_unknown_qos_class_is_refused(qos: str) -> None:
    with pytest.raises(CgroupPathError, match="refusing QoS"):
        CgroupLayout("/sys/fs/cgroup", "v1", "cgroupfs").pod_dir(UID, qos)


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "kubepods" / "burstable").mkdir(parents=True)
    os.symlink(outside, root / "kubepods" / "burstable" / f"pod{UID}")
    layout = CgroupLayout(str(root), "v2", "cgroupfs")
    with pytest.raises(CgroupPathError, match="outside"):
        layout.container_dir(UID, "Burstable", f"containerd://{ID}")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"pod{UID}", UID),
        (f"kubepods-pod{UID_}.slice", UID),
        (f"kubepods-burstable-pod{UID_}.slice", UID),
        (f"kubepods-besteffort-pod{UID_}.slice", UID),
        ("kubepods-burstable.slice", None),
        (f"pod{UID[:-1]}x", None),
        (ID, None),
    ],
)
def test_pod_uid_from_directory_name(name: str, expected: str | None) -> None:
    assert pod_uid_from_dir(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"cri-containerd-{ID}.scope", ID),
        (f"crio-{ID}.scope", ID),
        (ID, ID),
        (f"crio-{ID}", ID),
        (f"pod{UID}", None),
        (f"kubepods-pod{UID_}.slice", None),
        ("burstable", None),
        (f"crio-conmon-{ID}.scope", None),
    ],
)
def test_container_id_from_directory_name(name: str, expected: str | None) -> None:
    assert container_id_from_dir(name) == expected
