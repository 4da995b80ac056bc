"""``python -m node_writer run | show | reset`` as processes over a fake tree and the fake API."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from iops_limit.annotations import ContainerLimits
from node_writer.cgroup_paths import CgroupLayout
from node_writer.pods import PodView
from node_writer.throttle import V1Throttle
from sandbox.fake_cgroups import KernelLikeFiles
from sandbox.fake_kube import FakeKube
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
    assert rows[0].startswith(limited.uid)

    reset = node_writer("reset", **env)
    assert reset.returncode == 0, reset.stderr
    assert "cleared limits of 1 container cgroup(s)" in reset.stdout
    assert node_writer("show", **env).stdout.splitlines()[1:] == []


def test_missing_node_name_names_the_variable_and_flag() -> None:
    result = node_writer("show")
    assert result.returncode == 2
    assert "NODE_NAME / --node-name is required" in result.stderr


def test_show_without_its_data_disk_is_a_clear_error(
    make_cgroup_tree: Callable[[str, str], CgroupLayout], fake_host: FakeHost
) -> None:
    layout = make_cgroup_tree("v2", "cgroupfs")
    result = node_writer(
        "show",
        "--node-name=node-1",
        f"--cgroup-root={layout.root}",
        "--devices=259:7",
        f"--sys-root={fake_host.sys_root}",
    )
    assert result.returncode == 2
    assert "block device 259:7 does not exist" in result.stderr


def test_run_without_its_data_disk_is_unready_until_the_disk_appears(
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
    fake_host: FakeHost,
    kube_api: FakeKube,
    kubeconfig: Path,
) -> None:
    layout = make_cgroup_tree("v1", "cgroupfs")
    kube_api.add_node("node-1")
    port = free_port()
    writer = start_writer(
        NODE_NAME="node-1",
        CGROUP_ROOT=layout.root,
        DEVICES="259:7",
        SYS_ROOT=fake_host.sys_root,
        KUBECONFIG=str(kubeconfig),
        METRICS_PORT=str(port),
        METRICS_ADDRESS="127.0.0.1",
        RESYNC_INTERVAL="1s",
    )
    try:
        wait_for(writer, port, lambda answer: answer[0] == 503)
        status, why = read_url(f"http://127.0.0.1:{port}/readyz")
        assert status == 503
        assert why.startswith("devices missing: block device 259:7 does not exist")
        fake_host.add_disk("nvme1n1", 259, 7)
        wait_for(writer, port, lambda answer: answer == (200, "ok\n"))
    finally:
        writer.send_signal(signal.SIGTERM)
        output, _ = writer.communicate(timeout=30)
    assert writer.returncode == 0, output
    assert "cannot throttle yet: block device 259:7 does not exist" in output
    assert "devices found: 259:7" in output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_writer(**env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "node_writer", "run"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(
    writer: subprocess.Popen[str], port: int, answered: Callable[[tuple[int, str]], bool]
) -> None:
    deadline = time.monotonic() + 60
    while not answered(read_url(f"http://127.0.0.1:{port}/readyz")):
        assert writer.poll() is None, "the writer exited"
        assert time.monotonic() < deadline, "/readyz never gave the awaited answer"
        time.sleep(0.1)


def test_bad_label_selector_is_refused_at_start_up() -> None:
    result = node_writer("show", NODE_NAME="n", EXCLUDE_LABEL_SELECTOR="tier in (db")
    assert result.returncode == 2
    assert "label selector" in result.stderr


def test_run_applies_limits_serves_health_and_stops_on_sigterm(
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
    fake_host: FakeHost,
    kube_api: FakeKube,
    kubeconfig: Path,
) -> None:
    fake_host.add_disk("nvme0n1", DISK.major, DISK.minor)
    layout = make_cgroup_tree("v1", "cgroupfs")
    kube_api.add_node("node-1")
    pod = kube_api.make_pod("team-a", "web", "node-1", annotations={"iops-limit/limit": "250"})
    view = create_cgroups(layout, pod)
    kube_api.add_pod(pod)
    cgroup = layout.container_dir(view.uid, view.qos, view.containers[0].container_id or "")
    port = free_port()
    writer = start_writer(
        NODE_NAME="node-1",
        CGROUP_ROOT=layout.root,
        DEVICES="259:0",
        SYS_ROOT=fake_host.sys_root,
        KUBECONFIG=str(kubeconfig),
        METRICS_PORT=str(port),
        METRICS_ADDRESS="127.0.0.1",
    )
    try:
        wait_for(writer, port, lambda answer: answer == (200, "ok\n"))
        limits = V1Throttle(KernelLikeFiles()).read(cgroup)
        assert limits == {DISK: ContainerLimits(250, 250)}
        status, metrics = read_url(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert 'iops_node_writer_limit{container="app",direction="write_iops"' in metrics
    finally:
        writer.send_signal(signal.SIGTERM)
        output, _ = writer.communicate(timeout=30)
    assert writer.returncode == 0, output
    assert "setting NODE_NAME=node-1" in output
    assert "stopped" in output


def read_url(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def test_run_refuses_a_container_iops_limit_int_would_misread() -> None:
    result = node_writer("run", NODE_NAME="n", CONTAINER_IOPS_LIMIT="\u0661\u0660\u0660")
    assert result.returncode == 2
    assert "invalid CONTAINER_IOPS_LIMIT / --container-iops-limit '\u0661\u0660\u0660'" in (
        result.stderr
    )


class ResetScene:
    """Limits on a node, only one of which the writer would have set (``ours``)."""

    def __init__(self, layout: CgroupLayout, kube: FakeKube) -> None:
        self.layout = layout
        self.throttle = V1Throttle(KernelLikeFiles())
        kube.add_node("node-1")
        ours = kube.make_pod("team-a", "ours", "node-1")
        system = kube.make_pod("kube-system", "dns", "node-1")
        labelled = kube.make_pod("team-a", "db", "node-1", labels={"tier": "db"})
        for pod in (ours, system, labelled):
            kube.add_pod(pod)
        stray = pod_json("stray")  # a cgroup under kubepods that no pod of the API owns
        self.ours = self._limit(create_cgroups(layout, ours))
        self.in_kubepods = [
            self._limit(create_cgroups(layout, p)) for p in (system, labelled, stray)
        ]
        # A container outside the kubelet's hierarchy: the writer never writes there.
        self.outside = os.path.join(layout.base, "system.slice", f"docker-{'ab' * 32}.scope")
        os.makedirs(self.outside)
        for name in ("read_iops", "write_iops", "read_bps", "write_bps"):
            Path(self.outside, f"blkio.throttle.{name}_device").write_text("")
        self.throttle.apply(self.outside, DISK, ContainerLimits(write_iops=70))

    def _limit(self, view: PodView) -> str:
        cgroup = self.layout.container_dir(
            view.uid, view.qos, view.containers[0].container_id or ""
        )
        self.throttle.apply(cgroup, DISK, ContainerLimits(write_iops=200))
        return cgroup

    def limited(self, cgroup: str) -> bool:
        return not self.throttle.read(cgroup).get(DISK, ContainerLimits()).is_unlimited()


def test_reset_clears_only_the_containers_of_this_nodes_pods_it_would_limit(
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
    fake_host: FakeHost,
    kube_api: FakeKube,
    kubeconfig: Path,
) -> None:
    fake_host.add_disk("nvme0n1", DISK.major, DISK.minor)
    scene = ResetScene(make_cgroup_tree("v1", "systemd"), kube_api)
    result = node_writer(
        "reset",
        NODE_NAME="node-1",
        CGROUP_ROOT=scene.layout.root,
        DEVICES=str(DISK),
        SYS_ROOT=fake_host.sys_root,
        KUBECONFIG=str(kubeconfig),
        EXCLUDE_LABEL_SELECTOR="tier=db",
    )
    assert result.returncode == 0, result.stderr
    assert "cleared limits of 1 container cgroup(s)" in result.stdout
    assert not scene.limited(scene.ours)
    assert all(scene.limited(cgroup) for cgroup in scene.in_kubepods)
    assert scene.limited(scene.outside)


def test_reset_without_the_api_clears_only_under_kubepods(
    make_cgroup_tree: Callable[[str, str], CgroupLayout],
    fake_host: FakeHost,
    kube_api: FakeKube,
    kubeconfig: Path,
) -> None:
    fake_host.add_disk("nvme0n1", DISK.major, DISK.minor)
    scene = ResetScene(make_cgroup_tree("v1", "systemd"), kube_api)
    kube_api.stop()
    result = node_writer(
        "reset",
        NODE_NAME="node-1",
        CGROUP_ROOT=scene.layout.root,
        DEVICES=str(DISK),
        SYS_ROOT=fake_host.sys_root,
        KUBECONFIG=str(kubeconfig),
    )
    assert result.returncode == 0, result.stderr
    assert "cannot list this node's pods" in result.stderr
    assert "cleared limits of 4 container cgroup(s)" in result.stdout
    assert not any(scene.limited(cgroup) for cgroup in [scene.ours, *scene.in_kubepods])
    assert scene.limited(scene.outside)
