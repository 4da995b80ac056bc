"""``iops-node-writer run``: the pieces put together, plus the periodic resync and readiness."""

import logging
import threading
from dataclasses import dataclass

import kubernetes

from iops_limit.health import HealthServer
from node_writer.api import NodeApi
from node_writer.cgroup_paths import CgroupLayout, detect_layout
from node_writer.devices import Device, DeviceError, device_exists, resolve_devices
from node_writer.events import EventQueue
from node_writer.metrics import WriterMetrics
from node_writer.pods import exclusions
from node_writer.reconciler import Reconciler
from node_writer.settings import NodeWriterSettings
from node_writer.throttle import CgroupFiles, KernelFiles, throttle_for
from node_writer.watcher import PodWatcher

log = logging.getLogger(__name__)

COMPONENT = "iops-node-writer"


@dataclass(frozen=True)
class NodeSetup:
    """What start-up resolves once: the cgroup layout and the disks to throttle."""

    layout: CgroupLayout
    devices: tuple[Device, ...]


def resolve_setup(settings: NodeWriterSettings) -> NodeSetup:
    """Raises DeviceError or CgroupPathError with a message meant for the operator."""
    layout = detect_layout(settings.cgroup_root, settings.cgroup_version, settings.cgroup_driver)
    devices = resolve_devices(
        settings.data_mount, settings.devices, settings.mountinfo_path, settings.sys_root
    )
    return NodeSetup(layout, devices)


def wait_for_setup(settings: NodeWriterSettings, stopping: threading.Event) -> NodeSetup | None:
    """Resolve the set-up, waiting while the data disk is missing; None when told to stop.

    A node whose data disk is not mounted yet (or is being replaced) should not crash-loop:
    the writer says why once, answers /readyz with 503 and the reason, and retries every
    RESYNC_INTERVAL. A cgroup layout it cannot use is a configuration error and raises.
    """
    try:
        return resolve_setup(settings)
    except DeviceError as error:
        log.error("cannot throttle yet: %s; retrying every %gs", error, settings.resync_interval)
        reason = f"devices missing: {error}"
    health = None
    if settings.metrics_port:
        health = HealthServer(
            WriterMetrics().registry,
            lambda: (False, reason),
            settings.metrics_port,
            host=settings.metrics_address,
        )
        health.start()
    try:
        while not stopping.wait(settings.resync_interval):
            try:
                setup = resolve_setup(settings)
            except DeviceError as error:
                reason = f"devices missing: {error}"
                log.debug("still waiting for devices: %s", error)
                continue
            log.info("devices found: %s", ",".join(str(device) for device in setup.devices))
            return setup
        return None
    finally:
        if health is not None:
            health.stop()


class NodeWriter:
    """The running service: pod watch, periodic resync and the health server."""

    def __init__(
        self,
        settings: NodeWriterSettings,
        setup: NodeSetup,
        api_client: kubernetes.client.ApiClient,
        files: CgroupFiles | None = None,
        first_backoff: float = 0.5,
    ) -> None:
        self.settings = settings
        self.setup = setup
        self.metrics = WriterMetrics()
        self._api = NodeApi(api_client, COMPONENT, settings.node_name)
        self._events = EventQueue(self._api)
        self.reconciler = Reconciler(
            layout=setup.layout,
            devices=setup.devices,
            throttle=throttle_for(setup.layout.version, files or KernelFiles(setup.layout.root)),
            exclusions=exclusions(settings),
            default_iops=settings.container_iops_limit,
            events=self._events,
            metrics=self.metrics,
        )
        self.watcher = PodWatcher(
            self._api,
            settings.node_name,
            self.reconciler,
            self.metrics,
            first_backoff=first_backoff,
        )
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self.watcher.run, name="pod-watch", daemon=True),
            threading.Thread(target=self._resync_loop, name="resync", daemon=True),
        ]
        self.health: HealthServer | None = None
        if settings.metrics_port:
            self.health = HealthServer(
                self.metrics.registry,
                self.ready,
                settings.metrics_port,
                host=settings.metrics_address,
            )

    def start(self) -> None:
        if self.health is not None:
            self.health.start()
        self._events.start()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.watcher.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self._events.stop()
        if self.health is not None:
            self.health.stop()

    def wait(self) -> None:
        self._stopping.wait()

    def ready(self) -> tuple[bool, str]:
        missing = [
            str(d) for d in self.setup.devices if not device_exists(d, self.settings.sys_root)
        ]
        if missing:
            return False, f"devices missing: {', '.join(missing)}"
        if not self.watcher.connected:
            return False, "Kubernetes API unreachable"
        if not self.watcher.wait_listed(0):
            return False, "pods not listed yet"
        return True, "ok"

    def _resync_loop(self) -> None:
        while not self._stopping.wait(self.settings.resync_interval):
            try:
                self.reconciler.resync()
            except Exception:  # a bug must not end the resync loop
                log.exception("resync failed")
