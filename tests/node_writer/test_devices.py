"""DATA_MOUNT and DEVICES resolved to whole-disk MAJ:MIN through a fake mount table and sysfs."""

import pytest

from node_writer.devices import Device, DeviceError, resolve_devices
from tests.fixtures.cgroups import FakeHost


def resolve(
    host: FakeHost, data_mount: str = "/data", devices: tuple[str, ...] = ()
) -> tuple[Device, ...]:
    return resolve_devices(data_mount, devices, host.mountinfo_path, host.sys_root)


def test_partition_mount_resolves_to_its_whole_disk(fake_host: FakeHost) -> None:
    fake_host.add_disk("nvme0n1", 259, 0, partitions=2)
    fake_host.mount("/", 259, 1)
    fake_host.mount("/data", 259, 2)
    assert resolve(fake_host) == (Device(259, 0),)


def test_whole_disk_filesystem_resolves_to_itself(fake_host: FakeHost) -> None:
    fake_host.add_disk("nvme1n1", 259, 5)
    fake_host.mount("/data", 259, 5)
    assert resolve(fake_host) == (Device(259, 5),)


def test_directory_below_a_mount_uses_the_longest_containing_mount(fake_host: FakeHost) -> None:
    fake_host.add_disk("vda", 254, 0)
    fake_host.add_disk("nvme0n1", 259, 0)
    fake_host.mount("/", 254, 0)
    fake_host.mount("/data", 259, 0)
    fake_host.mount("/database", 254, 0)  # a prefix of the path text, not a parent directory
    assert resolve(fake_host, "/data/volumes/x") == (Device(259, 0),)
    assert resolve(fake_host, "/srv") == (Device(254, 0),)


def test_mount_point_with_a_space_is_unescaped(fake_host: FakeHost) -> None:
    fake_host.add_disk("nvme0n1", 259, 0)
    fake_host.mount("/", 8, 0)
    fake_host.mount("/mnt/data disk", 259, 0)
    assert resolve(fake_host, "/mnt/data disk") == (Device(259, 0),)


def test_several_explicit_devices_by_name_and_number(fake_host: FakeHost) -> None:
    fake_host.add_disk("nvme0n1", 259, 0, partitions=1)
    fake_host.add_disk("nvme1n1", 259, 3)
    found = resolve(fake_host, devices=("/dev/nvme0n1p1", "259:3", "/dev/nvme0n1"))
    assert found == (Device(259, 0), Device(259, 3))


@pytest.mark.parametrize("fstype", ["btrfs", "zfs", "tmpfs", "overlay", "nfs4"])
def test_data_mount_without_a_block_device_is_refused_naming_the_way_out(
    fake_host: FakeHost, fstype: str
) -> None:
    # btrfs and ZFS sit on real disks but report an anonymous 0:N device, as tmpfs does.
    fake_host.mount("/data", 0, 45, fstype=fstype)
    with pytest.raises(DeviceError) as raised:
        resolve(fake_host)
    message = str(raised.value)
    assert f"{fstype} filesystem has no block device of its own (anonymous device 0:45)" in (
        message
    )
    assert "set DEVICES" in message


def test_missing_device_in_sysfs_is_a_clear_error(fake_host: FakeHost) -> None:
    fake_host.mount("/data", 259, 9)
    with pytest.raises(DeviceError, match="259:9 does not exist"):
        resolve(fake_host)


def test_unknown_device_name_is_a_clear_error(fake_host: FakeHost) -> None:
    fake_host.add_disk("nvme0n1", 259, 0)
    with pytest.raises(DeviceError, match="/dev/nvme9n1 does not exist"):
        resolve(fake_host, devices=("/dev/nvme9n1",))


@pytest.mark.parametrize("text", ["nvme0n1", "/dev/../etc/passwd", "259:0\n", "-1:0", "/dev/"])
def test_malformed_device_setting_is_refused(fake_host: FakeHost, text: str) -> None:
    fake_host.add_disk("nvme0n1", 259, 0)
    with pytest.raises(DeviceError):
        resolve(fake_host, devices=(text,))


def test_unreadable_mount_table_is_a_clear_error(fake_host: FakeHost) -> None:
    with pytest.raises(DeviceError, match="cannot read the mount table"):
        resolve(fake_host)


def test_this_machines_root_filesystem_resolves_with_the_real_files() -> None:
    # Whatever disk / is on here, the answer must be a real whole block device.
    (device,) = resolve_devices("/", (), "/proc/self/mountinfo", "/sys")
    assert device.major > 0
