"""The demo's cgroup tree and workloads: real blkio cgroups where the machine allows, else skip."""

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.demo_cgroups import (
    BLKIO_HIERARCHY,
    SIMULATED_DEVICE,
    CgroupTree,
    disk_of,
    read_counters,
    read_limits,
    real_cgroups_unavailable,
)
from sandbox.demo_processes import Processes
from sandbox.demo_workloads import FioLoad, SimulatedLoad, Workload

WHY_NO_CGROUPS = real_cgroups_unavailable()
needs_cgroups = pytest.mark.skipif(
    WHY_NO_CGROUPS is not None, reason=f"real blkio cgroups unavailable: {WHY_NO_CGROUPS}"
)

CONTAINER_ID = "ab" * 32


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def real_tree(tmp_path: Path) -> Iterator[CgroupTree]:
    tree = CgroupTree.create_real(tmp_path)
    try:
        yield tree
    finally:
        tree.close()


@pytest.fixture
def simulated_tree(tmp_path: Path) -> Iterator[CgroupTree]:
    tree = CgroupTree.create_simulated(tmp_path)
    try:
        yield tree
    finally:
        tree.close()


@pytest.mark.kernel
@needs_cgroups
def test_real_tree_has_the_cgroupfs_layout_inside_a_unique_cgroup_and_is_removed(
    tmp_path: Path,
) -> None:
    tree = CgroupTree.create_real(tmp_path)
    uid = str(uuid.uuid4())
    try:
        container = tree.add_container(uid, CONTAINER_ID)
        assert (
            container == tree.root / "blkio" / "kubepods" / "burstable" / f"pod{uid}" / CONTAINER_ID
        )
        assert tree.top is not None and tree.top.parent == BLKIO_HIERARCHY
        real = tree.top / "kubepods" / "burstable" / f"pod{uid}" / CONTAINER_ID
        assert (real / "blkio.throttle.write_iops_device").exists()
        # A process still inside must not keep the cgroup from being removed.
        sleeper = subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$1" && exec sleep 60', "sh", str(container / "cgroup.procs")]
        )
        _wait_for(lambda: (container / "cgroup.procs").read_text().strip(), "sleep in cgroup")
    finally:
        tree.close()
    try:
        assert not tree.top.exists()
        assert not tree.root.exists()
        assert str(tree.root) not in Path("/proc/self/mountinfo").read_text()
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.kernel
@needs_cgroups
def test_fio_runs_inside_the_container_cgroup_and_the_kernel_throttle_caps_it(
    real_tree: CgroupTree, tmp_path: Path
) -> None:
    device = disk_of(tmp_path)
    container = real_tree.add_container(str(uuid.uuid4()), CONTAINER_ID)
    (container / "blkio.throttle.write_iops_device").write_text(f"{device.key} 100")
    assert read_limits(container, device).write_iops == 100
    processes = Processes(tmp_path)
    load = FioLoad(processes, tmp_path)
    started = time.monotonic()
    try:
        load.start(Workload("writer", 0, 2000), container)
        _wait_for(lambda: read_counters(container, device).write_ios >= 200, "throttled writes")
        load.stop("writer")
    finally:
        load.stop_all()
    elapsed = time.monotonic() - started
    writes = read_counters(container, device).write_ios
    assert writes > 0, "fio's direct writes were not counted in the container's cgroup"
    # Unthrottled it would do ~2000/s; the kernel lets through 100/s plus a small burst.
    assert writes <= 100 * elapsed + 50


def test_simulated_load_grows_counters_and_obeys_the_throttle_file(
    simulated_tree: CgroupTree,
) -> None:
    device = SIMULATED_DEVICE
    free = simulated_tree.add_container(str(uuid.uuid4()), "cd" * 32)
    capped = simulated_tree.add_container(str(uuid.uuid4()), "ef" * 32)
    (capped / "blkio.throttle.write_iops_device").write_text(f"{device.key} 100\n")
    load = SimulatedLoad(device)
    started = time.monotonic()
    try:
        load.start(Workload("free", 10, 1000), free)
        load.start(Workload("capped", 0, 1000), capped)
        _wait_for(lambda: read_counters(free, device).write_ios > 1000, "free writes")
    finally:
        load.stop_all()
    elapsed = time.monotonic() - started
    assert read_counters(free, device).read_ios > 0
    assert 0 < read_counters(capped, device).write_ios <= 100 * elapsed + 1
    assert (simulated_tree.sys_root / "dev" / "block" / device.key / "dev").exists()


def test_read_limits_takes_this_device_only_and_treats_absent_as_no_limit(tmp_path: Path) -> None:
    device = SIMULATED_DEVICE
    (tmp_path / "blkio.throttle.write_iops_device").write_text(f"8:0 7\n{device.key} 500\n")
    (tmp_path / "blkio.throttle.read_iops_device").write_text("8:0 9\n")
    limits = read_limits(tmp_path, device)
    assert limits.write_iops == 500
    assert limits.read_iops is None and limits.read_bps is None
    assert limits.any()


def test_stopping_a_child_stops_its_whole_process_group(tmp_path: Path) -> None:
    processes = Processes(tmp_path)
    child = processes.start("sleepers", ["sh", "-c", "sleep 60 & sleep 60 & wait"])

    def group() -> list[int]:
        pids = (int(name) for name in os.listdir("/proc") if name.isdigit())
        return [pid for pid in pids if _pgid(pid) == child.pid and _alive(pid)]

    _wait_for(lambda: len(group()) >= 3, "shell and two sleeps")
    processes.stop(child)
    # SIGKILL is delivered at once but a process takes a moment to die.
    _wait_for(lambda: group() == [], "the whole group to be gone", timeout=10)
    assert processes.pids == [child.pid]


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its new parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_v2_counters_and_limits_come_from_io_stat_and_io_max(tmp_path: Path) -> None:
    device = SIMULATED_DEVICE
    (tmp_path / "io.stat").write_text(
        f"8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n"
        f"{device.key} rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
    )
    (tmp_path / "io.max").write_text(f"{device.key} rbps=max wbps=1048576 riops=max wiops=200\n")
    counters = read_counters(tmp_path, device, "v2")
    assert (counters.read_ios, counters.write_ios) == (1, 2)
    assert (counters.read_bytes, counters.write_bytes) == (4096, 8192)
    limits = read_limits(tmp_path, device, "v2")
    assert (limits.write_iops, limits.write_bps) == (200, 1048576)
    assert limits.read_iops is None and limits.read_bps is None


def test_stopping_twice_signals_the_group_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signalled: list[int] = []
    real_killpg = os.killpg

    def recording_killpg(pgid: int, signum: int) -> None:
        signalled.append(pgid)
        real_killpg(pgid, signum)

    monkeypatch.setattr("sandbox.demo_processes.os.killpg", recording_killpg)
    processes = Processes(tmp_path)
    child = processes.start("sleeper", ["sleep", "60"])
    processes.stop(child)
    sent = len(signalled)
    # The clean-up path stops everything again; by then the group id may be someone else's.
    processes.stop_all()
    assert child.returncode is not None
    assert sent > 0 and len(signalled) == sent
