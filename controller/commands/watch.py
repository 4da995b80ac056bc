"""``iops-controller watch``: stream limit changes (pod, before -> after, by whom) as they
happen, from a pod watch."""

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from controller.kubeapi import COMPONENT as FIELD_MANAGER
from controller.ownership import DIRECTIONS, STATE, read_record, tampered
from controller.pods import PodCache, PodInfo
from controller.settings import add_settings_arguments, log_settings, settings_from
from controller.tables import limit_text
from controller.wiring import kube_api
from iops_limit.annotations import MANAGED_BY, MANAGED_BY_CONTROLLER, InvalidLimit, parse_pod_limits
from iops_limit.kube import KubeError
from iops_limit.settings import SettingsError

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("watch", help="stream limit changes as they happen")
    add_settings_arguments(parser)
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args, os.environ)
    except SettingsError as error:
        log.error("%s", error)
        return 2
    log_settings(settings, log)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    cache = PodCache(kube_api(settings), listener=printer(args.output))
    try:
        cache.start()
    except KubeError as error:
        log.error("cannot list pods: %s", error)
        return 1
    print(f"watching limit changes on {len(cache.snapshot())} pods", file=sys.stderr, flush=True)
    stop.wait()
    cache.stop()
    return 0


def printer(output: str) -> Callable[[PodInfo | None, PodInfo | None], None]:
    def show(before: PodInfo | None, after: PodInfo | None) -> None:
        for change in limit_changes(before, after):
            if output == "json":
                print(json.dumps(change), flush=True)
            else:
                print(
                    f"{change['time']} {change['pod']} {change['container']}: "
                    f"{change['before']} -> {change['after']} (by {change['by']})",
                    flush=True,
                )

    return show


def limit_changes(before: PodInfo | None, after: PodInfo | None) -> list[dict[str, str]]:
    """One entry per container whose effective limit differs between the two versions."""
    pod = after or before
    assert pod is not None
    old, new = _effective(before), _effective(after)
    by = _who(before, after)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        {
            "time": now,
            "pod": f"{pod.namespace}/{pod.name}",
            "container": container,
            "before": old.get(container, "-"),
            "after": new.get(container, "-"),
            "by": by,
        }
        for container in sorted(old.keys() | new.keys())
        if old.get(container, "-") != new.get(container, "-")
    ]


def _effective(pod: PodInfo | None) -> dict[str, str]:
    if pod is None:
        return {}
    try:
        parsed = parse_pod_limits(pod.annotations, pod.containers)
    except InvalidLimit as error:
        return dict.fromkeys(pod.containers, f"invalid ({error})")
    return {
        container: limit_text({"limit_" + d: getattr(limits, d) for d in DIRECTIONS})
        for container, limits in parsed.items()
        if not limits.is_unlimited()
    }


def _who(before: PodInfo | None, after: PodInfo | None) -> str:
    """Who made the change: the field managers the API server recorded for the keys that were
    set (managedFields), so a person writing keys that agree with the controller's record is
    still a person. A removal leaves no writer there; nor do servers that keep no
    managedFields: then the controller's own bookkeeping decides."""
    writers = _writers(before, after)
    if writers == {FIELD_MANAGER} or (not writers and _controller_wrote(after)):
        assert after is not None
        held, _ = read_record(after)
        rules = sorted({f"{h.group}/{h.rule}" for h in held.values()})
        return "controller" + (f" ({', '.join(rules)})" if rules else "")
    if writers:
        return f"person ({', '.join(sorted(writers - {FIELD_MANAGER}))})"
    was_managed = before is not None and before.annotations.get(MANAGED_BY) == MANAGED_BY_CONTROLLER
    if was_managed and after is not None and STATE not in after.annotations:
        return "controller (released)"
    return "person"


def _writers(before: PodInfo | None, after: PodInfo | None) -> set[str]:
    """The field managers of the keys this change set to a new value."""
    if after is None:
        return set()
    old = before.annotations if before is not None else {}
    changed = [key for key, value in after.annotations.items() if old.get(key) != value]
    return {after.managers[key] for key in changed if after.managers.get(key)}


def _controller_wrote(after: PodInfo | None) -> bool:
    """Without managedFields: the controller only writes keys that agree with its record."""
    if after is None or after.annotations.get(MANAGED_BY) != MANAGED_BY_CONTROLLER:
        return False
    held, problem = read_record(after)
    return not problem and not tampered(after, held)
