"""``iops-node-writer run | show | reset`` (also ``python -m node_writer``)."""

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence

import kubernetes

from iops_limit import kube
from iops_limit.settings import SettingsError, add_arguments, describe, from_args
from node_writer.api import NodeApi, node_pods
from node_writer.cgroup_paths import CgroupPathError
from node_writer.devices import DeviceError
from node_writer.node_state import AppliedLimit, applied_limits, pod_cgroups, reset
from node_writer.pods import PodView, exclusions, pod_view
from node_writer.reconciler import describe as describe_limits
from node_writer.service import COMPONENT, NodeWriter, resolve_setup, wait_for_setup
from node_writer.settings import NodeWriterSettings
from node_writer.throttle import KernelFiles, ThrottleError, throttle_for

log = logging.getLogger("node_writer")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="iops-node-writer",
        description="Turn iops-limit/* pod annotations into cgroup IO limits on this node.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "watch this node's pods and keep their cgroup limits in step"),
        ("show", "print the limits applied on this node, read back from the cgroup files"),
        (
            "reset",
            "clear the limits the writer set on this node's pods (stop the DaemonSet first)",
        ),
    ):
        add_arguments(commands.add_parser(name, help=help_text), NodeWriterSettings)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = from_args(NodeWriterSettings, args, os.environ if environ is None else environ)
        if args.command == "run":
            return _run(settings)
        setup = resolve_setup(settings)
    except (SettingsError, DeviceError, CgroupPathError) as error:
        print(f"iops-node-writer: {error}", file=sys.stderr)
        return 2
    throttle = throttle_for(setup.layout.version, KernelFiles(setup.layout.root))
    try:
        if args.command == "show":
            _print(applied_limits(setup.layout, throttle))
        else:
            pods = _node_pods(settings)
            cgroups = (
                None if pods is None else pod_cgroups(setup.layout, pods, exclusions(settings))
            )
            cleared = reset(setup.layout, throttle, setup.devices, cgroups)
            _print(cleared)
            print(f"cleared limits of {len(cleared)} container cgroup(s)")
    except ThrottleError as error:
        print(f"iops-node-writer: {error}", file=sys.stderr)
        return 1
    return 0


def _run(settings: NodeWriterSettings) -> int:
    for name, value in describe(settings).items():
        log.info("setting %s=%s", name, value)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    setup = wait_for_setup(settings, stopping)
    if setup is None:
        return 0
    log.info(
        "cgroup %s/%s under %s; throttling %s",
        setup.layout.version,
        setup.layout.driver,
        setup.layout.root,
        ",".join(str(device) for device in setup.devices),
    )
    try:
        api_client = kube.load_api_client(settings.kubeconfig or None)
    except (kubernetes.config.ConfigException, OSError) as error:
        print(f"iops-node-writer: cannot load Kubernetes configuration: {error}", file=sys.stderr)
        return 2
    writer = NodeWriter(settings, setup, api_client)
    signal.signal(signal.SIGTERM, lambda *_: writer.stop())
    signal.signal(signal.SIGINT, lambda *_: writer.stop())
    if stopping.is_set():
        return 0
    writer.start()
    writer.wait()
    log.info("stopped")
    return 0


def _node_pods(settings: NodeWriterSettings) -> list[PodView] | None:
    """This node's pods from the API; None, said on stderr, when it cannot be asked."""
    try:
        with kube.load_api_client(settings.kubeconfig or None) as api_client:
            api = NodeApi(api_client, COMPONENT, settings.node_name)
            body = api.list_pods(node_pods(settings.node_name))
    except (kubernetes.config.ConfigException, OSError, kube.KubeError) as error:
        print(
            f"iops-node-writer: cannot list this node's pods ({error}); clearing every "
            "container cgroup under kubepods instead",
            file=sys.stderr,
        )
        return None
    return [pod_view(item) for item in body.get("items") or []]


def _print(rows: list[AppliedLimit]) -> None:
    out = sys.stdout
    out.write(f"{'POD UID':<37} {'CONTAINER ID':<14} {'DEVICE':<8} {'LIMITS':<40} CGROUP\n")
    for row in rows:
        out.write(
            f"{row.pod_uid:<37} {row.container_id[:12]:<14} {row.device!s:<8} "
            f"{describe_limits(row.limits):<40} {row.cgroup}\n"
        )
