"""v1 blkio.throttle.* and v2 io.max writers over a fake tree with the kernel's file semantics."""

import errno
from collections.abc import Callable
from pathlib import Path

import pytest

from iops_limit.annotations import ContainerLimits
from node_writer.cgroup_paths import CgroupLayout
from node_writer.devices import Device
from node_writer.throttle import (
    CgroupGone,
    KernelFiles,
    ThrottleError,
    V1Throttle,
    V2Throttle,
    throttle_for,
)
from sandbox.fake_cgroups import KernelLikeFiles, add_container

UID = "0f4c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
CID = "containerd://" + "b2" * 32
DISK = Device(259, 0)
OTHER = Device(259, 3)


def container(make: Callable[[str, str], CgroupLayout], version: str, **kwargs: bool) -> str:
    return add_container(make(version, "cgroupfs"), UID, "Burstable", CID, **kwargs)


def test_v1_writes_one_line_per_direction_and_clears_with_zero(
    make_cgroup_tree: Callable[[str, str], CgroupLayout], kernel_like_files: KernelLikeFiles
) -> None:
    cgroup = container(make_cgroup_tree, "v1")
    throttle = V1Throttle(kernel_like_files)
    changed = throttle.apply(cgroup, DISK, ContainerLimits(write_iops=200, read_bps=10_000))
    assert changed == ("write_iops", "read_bps")
    assert Path(cgroup, "blkio.throttle.write_iops_device").read_text() == "259:0 200\n"
    assert Path(cgroup, "blkio.throttle.read_bps_device").read_text() == "259:0 10000\n"
    assert Path(cgroup, "blkio.throttle.read_iops_device").read_text() == ""
    assert throttle.read(cgroup) == {DISK: ContainerLimits(write_iops=200, read_bps=10_000)}

    assert throttle.apply(cgroup, DISK, ContainerLimits()) == ("write_iops", "read_bps")
    assert Path(cgroup, "blkio.throttle.write_iops_device").read_text() == ""
    assert throttle.read(cgroup) == {}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_nothing_is_written_when_the_files_already_match(
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
    kernel_like_files: KernelLikeFiles,
    version: str,
) -> None:
    cgroup = container(make_cgroup_tree, version)
    throttle = throttle_for(version, kernel_like_files)
    throttle.apply(cgroup, DISK, ContainerLimits(read_iops=100, write_iops=100))
    writes = kernel_like_files.writes
    assert throttle.apply(cgroup, DISK, ContainerLimits(read_iops=100, write_iops=100)) == ()
    assert throttle.apply(cgroup, OTHER, ContainerLimits()) == ()
    assert kernel_like_files.writes == writes


def test_v2_writes_only_the_changed_keys_and_clears_with_max(
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
) -> None:
    cgroup = container(make_cgroup_tree, "v2")
    written: list[str] = []

    class Recording(KernelLikeFiles):
        def write(self, path: str, text: str) -> None:
            written.append(text)
            super().write(path, text)

    throttle = V2Throttle(Recording())
    throttle.apply(cgroup, DISK, ContainerLimits(read_iops=100, write_iops=200))
    throttle.apply(cgroup, DISK, ContainerLimits(read_iops=100, write_iops=300))
    throttle.apply(cgroup, DISK, ContainerLimits(read_iops=100))
    assert written == ["259:0 riops=100 wiops=200", "259:0 wiops=300", "259:0 wiops=max"]
    assert Path(cgroup, "io.max").read_text() == "259:0 rbps=max wbps=max riops=100 wiops=max\n"
    assert throttle.read(cgroup) == {DISK: ContainerLimits(read_iops=100)}


def test_v2_keeps_other_devices_lines(
    make_cgroup_tree: Callable[[str, str], CgroupLayout], kernel_like_files: KernelLikeFiles
) -> None:
    cgroup = container(make_cgroup_tree, "v2")
    throttle = V2Throttle(kernel_like_files)
    throttle.apply(cgroup, DISK, ContainerLimits(write_bps=1000))
    throttle.apply(cgroup, OTHER, ContainerLimits(read_iops=50))
    assert throttle.read(cgroup) == {
        DISK: ContainerLimits(write_bps=1000),
        OTHER: ContainerLimits(read_iops=50),
    }


def test_v2_refuses_clearly_when_the_io_controller_is_not_enabled(
    make_cgroup_tree: Callable[[str, str], CgroupLayout], kernel_like_files: KernelLikeFiles
) -> None:
    cgroup = container(make_cgroup_tree, "v2", io_enabled=False)
    with pytest.raises(ThrottleError, match=r"io controller is not enabled.*subtree_control"):
        V2Throttle(kernel_like_files).apply(cgroup, DISK, ContainerLimits(write_iops=100))
    assert Path(cgroup, "io.max").read_text() == ""


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_value_the_kernel_did_not_keep_is_an_error(
    make_cgroup_tree: Callable[[str, str], CgroupLayout], version: str
) -> None:
    class Ignoring(KernelLikeFiles):
        def write(self, path: str, text: str) -> None:
            pass  # like a kernel silently dropping the rule

    cgroup = container(make_cgroup_tree, version)
    with pytest.raises(ThrottleError, match="the kernel kept"):
        throttle_for(version, Ignoring()).apply(cgroup, DISK, ContainerLimits(write_iops=100))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_refused_write_names_the_file(
    make_cgroup_tree: Callable[[str, str], CgroupLayout], version: str
) -> None:
    class Refusing(KernelLikeFiles):
        def write(self, path: str, text: str) -> None:
            raise OSError(22, "Invalid argument")

    cgroup = container(make_cgroup_tree, version)
    with pytest.raises(ThrottleError, match="refused the value") as raised:
        throttle_for(version, Refusing()).apply(cgroup, DISK, ContainerLimits(write_iops=100))
    assert cgroup in str(raised.value)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_partition_refused_by_the_kernel_is_named_as_such(
    make_cgroup_tree: Callable[[str, str], CgroupLayout], version: str
) -> None:
    class NoWholeDisk(KernelLikeFiles):
        def write(self, path: str, text: str) -> None:
            raise OSError(errno.ENODEV, "No such device")  # what a real kernel answers

    cgroup = container(make_cgroup_tree, version)
    with pytest.raises(
        ThrottleError, match=r"259:1.*not a whole disk \(the kernel refuses partitions"
    ):
        throttle_for(version, NoWholeDisk()).apply(
            cgroup, Device(259, 1), ContainerLimits(write_iops=100)
        )


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_vanished_cgroup_is_reported_as_gone(
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
    kernel_like_files: KernelLikeFiles,
    version: str,
) -> None:
    layout = make_cgroup_tree(version, "cgroupfs")
    cgroup = layout.container_dir(UID, "Burstable", CID)
    with pytest.raises(CgroupGone):
        throttle_for(version, kernel_like_files).apply(cgroup, DISK, ContainerLimits(read_iops=5))


@pytest.mark.parametrize(
    ("file_name", "content"),
    [
        ("blkio.throttle.write_iops_device", "259:0 lots\n"),
        ("blkio.throttle.write_iops_device", "garbage\n"),
        ("io.max", "259:0 riops=fast\n"),
    ],
)
def test_unexpected_file_content_is_an_error_not_a_guess(
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
    kernel_like_files: KernelLikeFiles,
    file_name: str,
    content: str,
) -> None:
    version = "v2" if file_name == "io.max" else "v1"
    cgroup = container(make_cgroup_tree, version)
    Path(cgroup, file_name).write_text(content)
    with pytest.raises(ThrottleError, match="unexpected"):
        throttle_for(version, kernel_like_files).read(cgroup)


def test_kernel_files_replace_a_plain_files_whole_content_and_never_create_one(
    tmp_path: Path,
) -> None:
    longer = tmp_path / "blkio.throttle.write_iops_device"
    longer.write_text("254:0 123456\n")
    KernelFiles().write(str(longer), "254:0 0")
    assert longer.read_text() == "254:0 0"
    with pytest.raises(FileNotFoundError):
        KernelFiles().write(str(tmp_path / "missing"), "254:0 0")
    assert not (tmp_path / "missing").exists()


def test_kernel_files_refuse_a_control_file_that_is_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("254:0 100\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "io.max").symlink_to(target)
    files = KernelFiles(str(tmp_path))
    with pytest.raises(OSError) as raised:
        files.write(str(cgroup / "io.max"), "254:0 0")
    assert raised.value.errno == errno.ELOOP
    with pytest.raises(OSError) as raised:
        files.read(str(cgroup / "io.max"))
    assert raised.value.errno == errno.ELOOP
    assert target.read_text() == "254:0 100\n"


def test_kernel_files_refuse_a_control_file_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "io.max").write_text("254:0 100\n")
    (root / "escape").symlink_to(outside)
    files = KernelFiles(str(root))
    with pytest.raises(ThrottleError, match="outside"):
        files.write(str(root / "escape" / "io.max"), "254:0 0")
    with pytest.raises(ThrottleError, match="outside"):
        files.read(str(root / "escape" / "io.max"))
    assert (outside / "io.max").read_text() == "254:0 100\n"
