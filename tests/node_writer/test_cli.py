"""``python -m node_writer show | reset`` over a fake tree, and start-up errors."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from iops_limit.annotations import ContainerLimits
from node_writer.cgroup_paths import CgroupLayout
from node_writer.throttle import V1Throttle
from sandbox.fake_cgroups import KernelLikeFiles
from tests.fixtures.cgroups import FakeHost
from tests.node_writer.helpers import DISK, create_cgroups, pod_json

ROOT = Path(__file__).resolve().parents[2]


def node_writer(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "node_writer", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_show_lists_applied_limits_and_reset_clears_them(
    make_cgroup_tree: Callable[[str, str], CgroupLayout], fake_host: FakeHost
) -> None:
    fake_host.add_disk("nvme0n1", DISK.major, DISK.minor)
    layout = make_cgroup_tree("v1", "systemd")
    limited = create_cgroups(layout, pod_json("limited"))
    other = create_cgroups(layout, pod_json("other"))
    throttle = V1Throttle(KernelLikeFiles())
    for view, limits in ((limited, ContainerLimits(write_iops=200)), (other, ContainerLimits())):
        cgroup = layout.container_dir(view.uid, view.qos, view.containers[0].container_id or "")
        throttle.apply(cgroup, DISK, limits)
    env = {
        "NODE_NAME": "node-1",
        "CGROUP_ROOT": layout.root,
        "DEVICES": "/dev/nvme0n1",
        "SYS_ROOT": fake_host.sys_root,
    }

    shown = node_writer("show", **env)
    assert shown.returncode == 0, shown.stderr
    rows = shown.stdout.splitlines()[1:]
    assert len(rows) == 1
    assert "259:0" in rows[0]
    assert "write_iops=200" in rows[0]
    assert f"{limited.uid.replace('-', '_')}" in rows[0]

    reset = node_writer("reset", **env)
    assert reset.returncode == 0, reset.stderr
    assert "cleared limits of 1 container cgroup(s)" in reset.stdout
    assert node_writer("show", **env).stdout.splitlines()[1:] == []


def test_missing_node_name_names_the_variable_and_flag() -> None:
    result = node_writer("show")
    assert result.returncode == 2
    assert "NODE_NAME / --node-name is required" in result.stderr


def test_missing_data_disk_is_a_clear_start_up_error(
    make_cgroup_tree: Callable[[str, str], CgroupLayout], fake_host: FakeHost
) -> None:
    layout = make_cgroup_tree("v2", "cgroupfs")
    result = node_writer(
        "run",
        "--node-name=node-1",
        f"--cgroup-root={layout.root}",
        "--devices=259:7",
        f"--sys-root={fake_host.sys_root}",
    )
    assert result.returncode == 2
    assert "block device 259:7 does not exist" in result.stderr


def test_bad_label_selector_is_refused_at_start_up() -> None:
    result = node_writer("show", NODE_NAME="n", EXCLUDE_LABEL_SELECTOR="tier in (db")
    assert result.returncode == 2
    assert "label selector" in result.stderr
