"""The demo's stand-in cluster: every part started for real, and stopped again whatever happens.

A fake Kubernetes API (in this process) with one node and the demo's pods; the pods' cgroups;
a cAdvisor-format exporter reading those cgroups' counters, scraped every second by a real
Prometheus; a real Alertmanager delivering to a local webhook; and the real
``iops-controller run`` and ``iops-node-writer run`` as child processes pointed at all of it.
"""

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from sandbox.alertmanager import AlertmanagerServer, WebhookReceiver
from sandbox.cadvisor_exporter import CadvisorExporter, Sample
from sandbox.cadvisor_series import ContainerSeries
from sandbox.cadvisor_series import Counters as ExportedCounters
from sandbox.demo_cgroups import CgroupTree, Device
from sandbox.demo_processes import ProcessError, Processes
from sandbox.demo_workloads import Workload
from sandbox.fake_kube import FakeKube
from sandbox.fake_kube_objects import make_pod
from sandbox.prometheus import PrometheusServer, free_port

log = logging.getLogger(__name__)

NODE_NAME = "demo-node-1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DemoContainer:
    """One container of one fake pod, its identity and the load it runs."""

    namespace: str
    pod: str
    container: str
    image: str
    uid: str
    container_id: str  # 64 hex digits
    workload: Workload

    @property
    def name(self) -> str:
        return f"{self.namespace}/{self.pod}/{self.container}"


@dataclass(frozen=True)
class Timings:
    """How fast the product runs in the demo (a real cluster uses the defaults in DESIGN.md)."""

    interval: str
    rate_window: str
    min_hold: str


class DemoCluster:
    """Starts the parts in order; :meth:`close` stops whatever was started, in reverse."""

    def __init__(
        self,
        *,
        containers: list[DemoContainer],
        tree: CgroupTree,
        device: Device,
        rules: Path,
        timings: Timings,
        work_dir: Path,
        processes: Processes,
    ) -> None:
        self.containers = containers
        self.tree = tree
        self.device = device
        self._rules = rules
        self._timings = timings
        self._work_dir = work_dir
        self._processes = processes
        self._stack = contextlib.ExitStack()
        self.cgroups: dict[str, Path] = {}
        self.kube = FakeKube()
        self.exporter = CadvisorExporter(source=self._read_cgroups)
        self.webhook = WebhookReceiver()
        self.prometheus: PrometheusServer | None = None
        self.alertmanager: AlertmanagerServer | None = None
        self.kubeconfig = work_dir / "kubeconfig"
        self._controller_port = 0
        self._node_writer_port = 0
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for spec in self.containers:
            self.cgroups[spec.name] = self.tree.add_container(spec.uid, spec.container_id)
        self.kube.start()
        self._stack.callback(self.kube.stop)
        self.kube.write_kubeconfig(self.kubeconfig)
        self.kube.add_node(NODE_NAME)
        for pod in _pods(self.containers):
            self.kube.add_pod(pod)
        self.exporter.start()
        self._stack.callback(self.exporter.stop)
        # Prometheus also keeps the controller's own metrics: the report reads from them which
        # limits were in force and when (the exporter serves its series on /metrics too).
        self._controller_port = free_port()
        self._node_writer_port = free_port()
        self.prometheus = PrometheusServer(
            {
                "cadvisor": [self.exporter.address],
                "iops-controller": [f"127.0.0.1:{self._controller_port}"],
            },
            scrape_interval="1s",
            data_dir=self._work_dir / "prometheus",
            metrics_path="/metrics",
        )
        # Unwound in reverse: stop, keep the log, remove the harness' directory.
        self._stack.callback(self.prometheus.close)
        self._stack.callback(self._keep_log, self.prometheus.work_dir / "prometheus.log")
        self._stack.callback(self.prometheus.stop)
        self.prometheus.start()
        self.webhook.start()
        self._stack.callback(self.webhook.stop)
        (self._work_dir / "alertmanager").mkdir()
        self.alertmanager = AlertmanagerServer(
            self.webhook.url, data_dir=self._work_dir / "alertmanager"
        )
        self._stack.callback(self._keep_log, self.alertmanager.log_path)
        self._stack.callback(self.alertmanager.stop)
        self.alertmanager.start()
        self._start_node_writer()
        self._start_controller()
        self._wait_ready("iops-node-writer", self._node_writer_port)
        self._wait_ready("iops-controller", self._controller_port)
        # rate() needs two samples in its window before the controller sees any IO at all.
        self.exporter.wait_for_scrapes(self.exporter.scrapes + 2, timeout=60)

    def close(self) -> None:
        self._stack.close()

    def _keep_log(self, path: Path) -> None:
        """Copy a harness's log next to the others before its directory goes."""
        with contextlib.suppress(OSError):
            shutil.copyfile(path, self._processes.log_path(path.stem))

    @property
    def device_regex(self) -> str:
        """What the controller's DEVICE_REGEX is: exactly the demo's disk."""
        return re.escape(self.device.path)

    @property
    def rate_window(self) -> str:
        return self._timings.rate_window

    def check_children(self) -> None:
        """Raise if the controller or the node writer died: the demo would show nothing true."""
        for name, child in self._children.items():
            self._processes.check_alive(name, child)

    def pod_annotations(self, spec: DemoContainer) -> dict[str, str]:
        pod = self.kube.get_pod(spec.namespace, spec.pod)
        annotations: dict[str, str] = pod["metadata"].get("annotations") or {}
        return annotations

    def _read_cgroups(self) -> Iterator[Sample]:
        for spec in self.containers:
            counters = self.tree.counters(self.cgroups[spec.name], self.device)
            series = ContainerSeries(
                spec.namespace,
                spec.pod,
                spec.container,
                device=self.device.path,
                uid=spec.uid,
                cid=spec.container_id,
                image=spec.image,
                driver="cgroupfs",
                qos="burstable",
            )
            yield (
                series,
                ExportedCounters(
                    float(counters.read_ios),
                    float(counters.write_ios),
                    float(counters.read_bytes),
                    float(counters.write_bytes),
                ),
            )

    def _start_node_writer(self) -> None:
        env = _child_env(
            NODE_NAME=NODE_NAME,
            KUBECONFIG=str(self.kubeconfig),
            CGROUP_ROOT=str(self.tree.root),
            CGROUP_VERSION=self.tree.version,
            CGROUP_DRIVER="cgroupfs",
            DEVICES=self.device.key,
            SYS_ROOT=str(self.tree.sys_root),
            RESYNC_INTERVAL="10s",
            METRICS_ADDRESS="127.0.0.1",
            METRICS_PORT=str(self._node_writer_port),
        )
        self._start_child("iops-node-writer", [sys.executable, "-m", "node_writer", "run"], env)

    def _start_controller(self) -> None:
        self._start_child(
            "iops-controller", [sys.executable, "-m", "controller", "run"], self.controller_env()
        )

    def controller_env(self) -> dict[str, str]:
        """The controller's settings; ``iops-controller report`` reads the same cluster."""
        assert self.prometheus is not None and self.alertmanager is not None
        return _child_env(
            PROMETHEUS_URL=self.prometheus.url,
            KUBECONFIG=str(self.kubeconfig),
            RULES_PATH=str(self._rules),
            INTERVAL=self._timings.interval,
            RATE_WINDOW=self._timings.rate_window,
            MIN_HOLD=self._timings.min_hold,
            DEVICE_REGEX=self.device_regex,
            DRY_RUN="false",
            LEADER_ELECT="false",
            # Three pods: the default fraction would still allow one new limit per cycle.
            MAX_NEW_LIMITS_FRACTION="0.5",
            ALERTMANAGER_URL=self.alertmanager.url,
            METRICS_ADDRESS="127.0.0.1",
            METRICS_PORT=str(self._controller_port),
        )

    def _start_child(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        child = self._processes.start(name, argv, env=env, cwd=PROJECT_ROOT)
        self._stack.callback(self._processes.stop, child)
        self._children[name] = child

    def _wait_ready(self, name: str, port: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{port}/readyz"
        why = "no answer"
        while time.monotonic() < deadline:
            self._processes.check_alive(name, self._children[name])
            with contextlib.suppress(requests.RequestException):
                answer = requests.get(url, timeout=2)
                if answer.status_code == 200:
                    return
                why = answer.text.strip()
            time.sleep(0.2)
        raise ProcessError(f"{name} not ready within {timeout:.0f} s: {why}")


def _pods(containers: list[DemoContainer]) -> list[dict[str, object]]:
    """One pod per (namespace, pod), with its containers' IDs as the kubelet reports them."""
    by_pod: dict[tuple[str, str], list[DemoContainer]] = {}
    for spec in containers:
        by_pod.setdefault((spec.namespace, spec.pod), []).append(spec)
    return [
        make_pod(
            namespace,
            pod,
            NODE_NAME,
            containers=[{"name": spec.container, "image": spec.image} for spec in specs],
            labels={"app": pod},
            qos="Burstable",
            container_ids={spec.container: spec.container_id for spec in specs},
            uid=specs[0].uid,
        )
        for (namespace, pod), specs in by_pod.items()
    ]


def _child_env(**settings: str) -> dict[str, str]:
    """The demo's environment plus the child's settings; the project importable from its root."""
    env = dict(os.environ)
    env.update(settings)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if part
    )
    return env
