"""Node writer benchmark: annotation change -> cgroup file change, RSS and idle CPU.

``python -m bench.bench_node_writer [--pods 250] [--changes 200] [--idle 30]``

The writer runs as its own process (``python -m node_writer run``) against the fake API server
over HTTP and a cgroup v1 tree of plain files under a temporary root, with 250 pods on its
node. The benchmark patches one pod's annotation at a time and polls that container's
``blkio.throttle.write_iops_device`` until it shows the new value. Then it measures the
writer's RSS and its CPU time over an idle window that includes a resync.
"""

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from node_writer.cgroup_paths import CgroupLayout
from node_writer.pods import pod_view
from sandbox.fake_cgroups import add_container, make_tree
from sandbox.fake_kube import FakeKube

NODE = "bench-node"
DEVICE = "259:0"
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=250)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--idle", type=float, default=35.0, help="idle window, seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-node-writer-") as tmp, FakeKube() as kube:
        run(kube, Path(tmp), args.pods, args.changes, args.idle)


def run(kube: FakeKube, tmp: Path, pod_count: int, changes: int, idle: float) -> None:
    layout = make_tree(str(tmp / "cgroup"), "v1", "systemd")
    (tmp / "sys" / "dev" / "block" / DEVICE).mkdir(parents=True)
    kube.add_node(NODE)
    files = {}
    for number in range(pod_count):
        pod = kube.make_pod("bench", f"pod-{number:03d}", NODE)
        files[pod["metadata"]["name"]] = write_iops_file(layout, pod)
        kube.add_pod(pod)
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "NODE_NAME": NODE,
        "CGROUP_ROOT": layout.root,
        "DEVICES": DEVICE,
        "SYS_ROOT": str(tmp / "sys"),
        "METRICS_PORT": str(port),
        "METRICS_ADDRESS": "127.0.0.1",
        "KUBECONFIG": str(kube.write_kubeconfig(tmp / "kubeconfig")),
        "RESYNC_INTERVAL": "30s",
    }
    writer = subprocess.Popen(
        [sys.executable, "-m", "node_writer", "--log-level=WARNING", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_ready(port)
        latencies = measure_changes(kube, files, changes)
        wait_events_posted(kube, changes)
        rss = rss_mib(writer.pid)
        cpu_before = cpu_seconds(writer.pid)
        time.sleep(idle)
        idle_cpu = (cpu_seconds(writer.pid) - cpu_before) / idle * 100
        rss_after = rss_mib(writer.pid)
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"pods on the node:            {pod_count}")
    print(f"annotation changes:          {len(latencies)}")
    print(
        f"change -> cgroup file:       median {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    print(
        f"writer RSS:                  {rss:.1f} MiB after the changes, "
        f"{rss_after:.1f} MiB after idling"
    )
    print(
        f"writer idle CPU:             {idle_cpu:.2f}% of a core over {idle:.0f} s "
        "(one resync included)"
    )


def write_iops_file(layout: CgroupLayout, pod: dict[str, Any]) -> Path:
    view = pod_view(pod)
    container_id = view.containers[0].container_id or ""
    return Path(
        add_container(layout, view.uid, view.qos, container_id), "blkio.throttle.write_iops_device"
    )


def measure_changes(kube: FakeKube, files: dict[str, Path], changes: int) -> list[float]:
    rng = random.Random(4)
    names = sorted(files)
    latencies = []
    for change in range(changes):
        name = rng.choice(names)
        value = 100 + change
        pod = kube.get_pod("bench", name)
        pod["metadata"]["annotations"] = {"iops-limit/write-iops": str(value)}
        expected = f"{DEVICE} {value}"
        started = time.perf_counter()
        kube.update_pod(pod)
        deadline = started + 10
        while files[name].read_text().strip() != expected:
            if time.perf_counter() > deadline:
                raise SystemExit(f"{name}: the file never showed {expected!r}")
            time.sleep(0.0005)
        latencies.append(time.perf_counter() - started)
    return latencies


def wait_events_posted(kube: FakeKube, count: int) -> None:
    """Events go out on their own thread after the writes; let them finish before idling."""
    deadline = time.monotonic() + 120
    while len(kube.events("bench")) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(kube.events('bench'))} of {count} Events arrived")
        time.sleep(0.1)


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("the node writer did not become ready within 60 s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
