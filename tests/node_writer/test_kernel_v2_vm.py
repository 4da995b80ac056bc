"""The node writer's cgroup v2 io.max code on a real kernel, booted in qemu (one boot per module).

sandbox.iomax_vm_driver runs inside the VM: the writer's own Reconciler and V2Throttle against a
real cgroup2 mount, dd direct IO on a virtio disk inside the container's cgroup. These tests
check what it reported. Without qemu and busybox the fixture skips, saying so (or fails when
IOPS_LIMITER_VM_TEST=1).
"""

import pytest

from node_writer.reconciler import APPLIED, CLEARED, FAILED
from sandbox.iomax_vm import VmReport
from sandbox.iomax_vm_driver import CGROUPFS_POD, CRIO_ID, LIMIT, LIMITED_POD, REFUSED_POD

pytestmark = pytest.mark.vm


def test_io_max_holds_exactly_the_annotated_limits_in_the_kernels_form(
    cgroup_v2_vm: VmReport,
) -> None:
    device = cgroup_v2_vm.one("device")
    assert cgroup_v2_vm.one("layout") == "v2 systemd"
    assert cgroup_v2_vm.one("cgroup").startswith(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
    )
    assert cgroup_v2_vm.one("iomax_limited") == (
        f"{device} rbps=max wbps=max riops={LIMIT} wiops={LIMIT}"
    )
    assert cgroup_v2_vm.one("iomax_resynced") == cgroup_v2_vm.one("iomax_limited")
    assert cgroup_v2_vm.one("iomax_changed") == (
        f"{device} rbps=max wbps=max riops={2 * LIMIT} wiops={LIMIT}"
    )
    assert cgroup_v2_vm.one("iomax_cleared") == "(empty)"


def test_the_cgroupfs_driver_layout_gets_its_limit_too(cgroup_v2_vm: VmReport) -> None:
    device = cgroup_v2_vm.one("device")
    assert (
        cgroup_v2_vm.one("cgroupfs_cgroup")
        == f"kubepods/burstable/pod{CGROUPFS_POD}/crio-{CRIO_ID}"
    )
    assert (
        cgroup_v2_vm.one("cgroupfs_iomax") == f"{device} rbps=max wbps=max riops=max wiops={LIMIT}"
    )


def test_only_the_changed_keys_are_written_and_limits_clear_with_max(
    cgroup_v2_vm: VmReport,
) -> None:
    device = cgroup_v2_vm.one("device")
    assert cgroup_v2_vm.all("written") == (
        f"{device} riops={LIMIT} wiops={LIMIT}",
        f"{device} riops=max wiops=max",  # reset
        f"{device} riops={LIMIT} wiops={LIMIT}",  # the resync restores the annotated limits
        f"{device} riops={2 * LIMIT}",
        f"{device} riops=max wiops=max",
    )


def test_show_and_reset_read_the_real_files_and_a_resync_restores_the_limits(
    cgroup_v2_vm: VmReport,
) -> None:
    device = cgroup_v2_vm.one("device")
    assert cgroup_v2_vm.all("show") == (
        f"{LIMITED_POD} {device} read_iops={LIMIT} write_iops={LIMIT}",
    )  # the pod without io.max is not listed
    assert cgroup_v2_vm.one("reset") == "1"
    assert cgroup_v2_vm.one("iomax_reset") == "(empty)"
    assert cgroup_v2_vm.one("iomax_resynced") == (
        f"{device} rbps=max wbps=max riops={LIMIT} wiops={LIMIT}"
    )


def test_a_partition_resolves_to_its_disk_whose_number_the_kernel_refuses(
    cgroup_v2_vm: VmReport,
) -> None:
    device = cgroup_v2_vm.one("device")
    major, minor = device.split(":")
    assert cgroup_v2_vm.one("partition") == f"{major}:{int(minor) + 1} disk={device}"
    refused = cgroup_v2_vm.one("partition_refused")
    assert refused.startswith(f"cannot write '{major}:{int(minor) + 1} wiops={LIMIT}' to ")
    assert "not a whole disk" in refused


@pytest.mark.parametrize("direction", ["write", "read"])
def test_the_kernel_throttles_direct_io_to_the_annotated_iops(
    cgroup_v2_vm: VmReport, direction: str
) -> None:
    limited = cgroup_v2_vm.direct_io(f"{direction}_limited")
    print(
        f"{direction}: {limited.iops:.1f} IOPS under {LIMIT} ({limited.ios} in {limited.seconds} s)"
    )
    assert 0.85 * LIMIT <= limited.iops <= 1.05 * LIMIT


@pytest.mark.parametrize("direction", ["write", "read"])
def test_io_is_at_least_three_times_faster_after_the_annotation_is_removed(
    cgroup_v2_vm: VmReport, direction: str
) -> None:
    limited = cgroup_v2_vm.direct_io(f"{direction}_limited")
    cleared = cgroup_v2_vm.direct_io(f"{direction}_cleared")
    print(f"{direction}: {cleared.iops:.0f} IOPS cleared, {limited.iops:.1f} limited")
    assert cleared.iops >= 3 * limited.iops


def test_refuses_clearly_when_the_parent_does_not_enable_the_io_controller(
    cgroup_v2_vm: VmReport,
) -> None:
    assert cgroup_v2_vm.one("refused_has_iomax") == "False"  # the kernel's own behaviour
    reasons = [event.split(" ", 1)[0] for event in cgroup_v2_vm.all("event")]
    assert reasons == [APPLIED, APPLIED, APPLIED, CLEARED, FAILED]
    refusal = cgroup_v2_vm.all("event")[-1]
    assert "the io controller is not enabled for /sys/fs/cgroup/kubepods.slice/" in refusal
    pod_slice = f"kubepods-burstable-pod{REFUSED_POD.replace('-', '_')}.slice"
    assert f"{pod_slice}/cgroup.subtree_control has nothing; enable it (echo +io)" in refusal
