"""``python -m sandbox.demo``: the whole product on one machine, with real cgroups and real IO.

Three fake pods on one fake node: a noisy batch job writing as fast as ~2000 IOPS allow for a
while, and two quiet services. The real ``iops-controller run`` reads their IO from a real
Prometheus, limits the noisy one with ``rules/demo.yaml``, and the real ``iops-node-writer
run`` writes the limit into the container's real blkio cgroup, where the kernel throttles it.
When the load stops, the limit is released. A live table follows it all; at the end come the
Alertmanager-style report, a PNG chart, the webhook payloads the real Alertmanager delivered
and ``measurements.json``, all in ``--out``.

Without root or a blkio hierarchy the same flow runs on a simulated cgroup tree, labelled
SIMULATED everywhere. Ctrl-C or SIGTERM stops every process and removes every cgroup; a second
one waits for that clean-up.
"""

import contextlib
import json
import logging
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from controller.rule_files import RuleFileError, load_rules
from controller.rule_model import RuleSet
from iops_limit import annotations
from iops_limit.durations import format_duration
from sandbox.alertmanager import AlertmanagerError
from sandbox.demo_cgroups import (
    SIMULATED_DEVICE,
    CgroupError,
    CgroupTree,
    Device,
    disk_of,
    real_cgroups_unavailable,
)
from sandbox.demo_chart import draw_chart
from sandbox.demo_cluster import DemoCluster, DemoContainer
from sandbox.demo_detect import DetectError, Detector
from sandbox.demo_options import DemoOptions, parse_options
from sandbox.demo_processes import ProcessError, Processes
from sandbox.demo_record import ContainerRecord, Observation
from sandbox.demo_results import measurements_of, print_summary, run_report, save_webhook_payloads
from sandbox.demo_signals import Interrupted, StopSignals
from sandbox.demo_table import LiveTable
from sandbox.demo_workloads import FioLoad, Load, SimulatedLoad, Workload, WorkloadError
from sandbox.prometheus import PrometheusServerError

log = logging.getLogger("sandbox.demo")

POLL_SECONDS = 0.25
#: Once the noisy container is released, the demo shows the quiet end for this long, then stops.
AFTER_RELEASE_SECONDS = 3.0
#: The noisy writer keeps writing at least this long after its limit is written.
UNDER_LIMIT_SECONDS = 12.0
NOISY_WRITE_IOPS = 2000


#: (namespace, pod, container, image, read IOPS, write IOPS); the first one is the noisy one.
_PODS = (
    ("shop", "batch-import", "importer", "registry.example/import:2.1", 0, NOISY_WRITE_IOPS),
    ("shop", "web", "web", "registry.example/web:1.4", 25, 10),
    ("shop", "cache", "redis", "registry.example/redis:7", 5, 30),
)


def demo_containers() -> list[DemoContainer]:
    """Fresh identities for the demo's pods."""
    return [
        DemoContainer(
            namespace=namespace,
            pod=pod,
            container=name,
            image=image,
            uid=str(uuid.uuid4()),
            container_id=secrets.token_hex(32),
            workload=Workload(f"{pod}-{name}", reads, writes),
        )
        for namespace, pod, name, image, reads, writes in _PODS
    ]


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "logs").mkdir(exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        filename=options.out / "logs" / "demo.log",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    signals = StopSignals()
    signals.install()
    try:
        figures = run(options, sys.stdout, signals)
        signals.check()
    except Interrupted:
        print("\ninterrupted: every process stopped, every cgroup removed", file=sys.stderr)
        return 130
    except (
        CgroupError,
        ProcessError,
        WorkloadError,
        RuleFileError,
        PrometheusServerError,
        AlertmanagerError,
        TimeoutError,
    ) as error:
        print(f"\ndemo failed: {error}", file=sys.stderr)
        print(f"logs: {options.out / 'logs'}", file=sys.stderr)
        return 1
    print_summary(figures, options.out)
    return 0 if figures["report_ok"] else 1


def run(options: DemoOptions, out: TextIO, signals: StopSignals) -> dict[str, Any]:
    """Set everything up, run the story, tear everything down; returns measurements.json."""
    rules = load_rules(options.rules)  # a bad rule file stops the demo before anything starts
    work_dir = Path(tempfile.mkdtemp(prefix=".work-", dir=options.out))
    processes = Processes(options.out / "logs")
    containers = demo_containers()
    records = [ContainerRecord(spec.name) for spec in containers]
    measurements: dict[str, Any] = {}
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(processes.stop_all)  # last line of defence: nothing outlives us
            with signals.held():
                tree, device, why_simulated = _make_tree(options, work_dir)
                stack.callback(tree.close)
            load: Load = SimulatedLoad(device) if tree.simulated else FioLoad(processes, work_dir)
            stack.callback(load.stop_all)
            cluster = DemoCluster(
                containers=containers,
                tree=tree,
                device=device,
                rules=options.rules,
                timings=options.timings,
                work_dir=work_dir,
                processes=processes,
            )
            stack.callback(cluster.close)
            _say(out, _banner(tree, device, why_simulated, options))
            cluster.start()
            table = LiveTable(out, title="iops-limiter sandbox demo", simulated=tree.simulated)
            _play(options, cluster, load, records, table, rules=rules, signals=signals)
            load.stop_all()
            report, report_ok = run_report(
                cluster, options.out, why_simulated if tree.simulated else None
            )
            webhook = save_webhook_payloads(cluster, options.out)
            measurements = measurements_of(tree, device, why_simulated, options.rules, records)
            measurements.update(report=str(report), report_ok=report_ok, webhook=str(webhook))
    finally:
        _remove_work_dir(work_dir)
    chart = draw_chart(records, options.out / "demo-iops.png", simulated=tree.simulated)
    measurements["chart"] = str(chart)
    measurements["pids"] = processes.pids
    path = options.out / "measurements.json"
    path.write_text(json.dumps(measurements, indent=2) + "\n")
    return measurements


def _remove_work_dir(work_dir: Path) -> None:
    """Remove the scratch directory, unless a mount is still inside it (then rmtree would
    descend into the cgroup hierarchy): say so instead."""
    prefix = str(work_dir) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        mounted = [
            line.split(" ")[4] for line in mountinfo if line.split(" ")[4].startswith(prefix)
        ]
    if mounted:
        log.error("not removing %s: still mounted inside it: %s", work_dir, mounted)
        return
    shutil.rmtree(work_dir, ignore_errors=True)


def _make_tree(options: DemoOptions, work_dir: Path) -> tuple[CgroupTree, Device, str | None]:
    why = "--simulate was given" if options.simulate else real_cgroups_unavailable()
    if why is None:
        try:
            device = disk_of(work_dir)
            return CgroupTree.create_real(work_dir), device, None
        except CgroupError as error:
            why = str(error)
    return CgroupTree.create_simulated(work_dir), SIMULATED_DEVICE, why


def _banner(tree: CgroupTree, device: Device, why: str | None, options: DemoOptions) -> str:
    if tree.simulated:
        where = f"SIMULATED cgroups ({why}): counters and throttling are simulated"
    else:
        where = (
            f"real cgroup {tree.version} under {tree.top}, "
            f"direct IO on {device.path} ({device.key})"
        )
    return (
        f"iops-limiter sandbox demo: {where}\n"
        f"rules {options.rules}; load for up to {options.duration:.0f} s; outputs in "
        f"{options.out}\nstarting fake Kubernetes API, Prometheus, Alertmanager, "
        "iops-controller and iops-node-writer ..."
    )


def _play(
    options: DemoOptions,
    cluster: DemoCluster,
    load: Load,
    records: list[ContainerRecord],
    table: LiveTable,
    *,
    rules: RuleSet,
    signals: StopSignals,
) -> None:
    """Start the load, then poll and redraw until the story is told or the time is up."""
    specs = cluster.containers
    noisy = records[0]
    started = time.monotonic()
    for spec in specs:
        load.start(spec.workload, cluster.cgroups[spec.name])
    table.event(0.0, "load started: one noisy writer, two quiet services")
    assert cluster.prometheus is not None
    detector = Detector(cluster.prometheus.url, rules, cluster.device_regex, cluster.rate_window)
    next_render = 0.0
    notified = events = 0
    while True:
        signals.check()
        at = time.monotonic() - started
        for spec, record in zip(specs, records, strict=True):
            limit_keys = _limit_annotations(cluster.pod_annotations(spec), spec.container)
            observation = Observation(
                at,
                cluster.tree.counters(cluster.cgroups[spec.name], cluster.device),
                cluster.tree.limits(cluster.cgroups[spec.name], cluster.device),
                bool(limit_keys),
            )
            for change in record.add(observation):
                shown = ", ".join(f"{key}={value}" for key, value in limit_keys.items())
                detail = f" ({shown})" if change.startswith("annotated") else ""
                table.event(at, f"{spec.name}: {change}{detail}")
        if _noisy_done(options, noisy, at):
            load.stop(specs[0].workload.name)
            noisy.load_stopped_at = at
            table.event(at, f"{specs[0].name}: load stopped")
        cluster.check_children()
        if at >= next_render:
            _detect(detector, specs, records, table, at)
            notified = _notifications(cluster, notified, table, at)
            events = _kube_events(cluster, events, table, at)
            table.render(at, _phase(noisy), records)
            next_render += 1.0
        if at >= options.duration or (
            noisy.released_at is not None and at >= noisy.released_at + AFTER_RELEASE_SECONDS
        ):
            return
        time.sleep(POLL_SECONDS)


def _noisy_done(options: DemoOptions, noisy: ContainerRecord, at: float) -> bool:
    """The noisy writer stops after its time, once it has also run long enough under its
    limit to be measured there: a slow machine delays the limit, never the measurement."""
    return (
        noisy.load_stopped_at is None
        and noisy.limited_at is not None
        and at >= max(options.noisy_seconds, noisy.limited_at + UNDER_LIMIT_SECONDS)
    )


def _detect(
    detector: Detector,
    specs: list[DemoContainer],
    records: list[ContainerRecord],
    table: LiveTable,
    at: float,
) -> None:
    """Mark containers whose rates meet a rule's condition, before the controller acts."""
    try:
        found = detector.detect([(spec.namespace, spec.pod, spec.container) for spec in specs])
    except DetectError as error:
        log.warning("no detection this second: %s", error)
        return
    for spec, record in zip(specs, records, strict=True):
        hit = found.get((spec.namespace, spec.pod, spec.container))
        if hit is not None and record.mark_detected(at):
            table.event(
                at,
                f"{spec.name}: detected: {hit.condition} (rule {hit.rule}); the controller "
                f"acts once it has held for {format_duration(hit.for_seconds)}",
            )


def _notifications(cluster: DemoCluster, seen: int, table: LiveTable, at: float) -> int:
    """Show each notification Alertmanager delivered to the demo's webhook since ``seen``."""
    payloads = cluster.webhook.payloads()
    for payload in payloads[seen:]:
        for alert in payload.get("alerts", []):
            labels = alert.get("labels", {})
            who = "/".join(
                labels[key] for key in ("namespace", "pod", "container") if key in labels
            )
            table.event(
                at,
                f"Alertmanager notified: {labels.get('alertname', '?')} "
                f"{alert.get('status', '?')} {who}".rstrip(),
            )
    return len(payloads)


def _kube_events(cluster: DemoCluster, seen: int, table: LiveTable, at: float) -> int:
    """Show each Kubernetes Event the controller and the node writer recorded since ``seen``."""
    events = cluster.kube.events()
    for event in events[seen:]:
        source = (event.get("source") or {}).get("component") or event.get("reportingComponent")
        pod = (event.get("involvedObject") or {}).get("name", "?")
        table.event(
            at,
            f"Event {event.get('reason', '?')} on pod {pod} from {source or '?'}: "
            f"{event.get('message', '')}",
        )
    return len(events)


def _phase(noisy: ContainerRecord) -> str:
    if noisy.load_stopped_at is None:
        return "noisy writer busy"
    if noisy.released_at is None:
        return "noisy writer finished; waiting for the release"
    return "noisy writer released; the demo ends in a moment"


def _limit_annotations(pod_annotations: dict[str, str], container: str) -> dict[str, str]:
    """The pod's limit keys that apply to this container (pod-wide or its own)."""
    keys = (annotations.LIMIT, *annotations.DIRECTION_KEYS)
    wanted = {*keys, *(f"{key}.{container}" for key in keys)}
    return {key: value for key, value in pod_annotations.items() if key in wanted}


def _say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


if __name__ == "__main__":
    sys.exit(main())
