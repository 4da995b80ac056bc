"""``iops-controller status``: the limits in force across the cluster, from the annotations,
with the IO Prometheus observes next to each."""

import argparse
import json
import logging
import os
import time
from typing import Any

from controller.ownership import Owner, classify, format_time
from controller.pods import PodCache, standalone_index
from controller.prometheus import PrometheusError, resolve_standalone
from controller.settings import (
    ControllerSettings,
    add_settings_arguments,
    log_settings,
    settings_from,
)
from controller.tables import figure, limit_text, render
from controller.wiring import kube_api, prometheus_source
from iops_limit.kube import KubeError
from iops_limit.settings import SettingsError

log = logging.getLogger(__name__)

COLUMNS = ["pod", "container", "limit", "by", "since", "read_iops", "write_iops"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status", help="list the limits in force with the observed IO of each container"
    )
    add_settings_arguments(parser)
    parser.add_argument("--output", choices=("table", "json"), default="table")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args, os.environ)
    except SettingsError as error:
        log.error("%s", error)
        return 2
    log_settings(settings, log)
    try:
        cache = PodCache(kube_api(settings))
        cache.sync()
    except KubeError as error:
        log.error("cannot list pods: %s", error)
        return 1
    rows = status_rows(cache, settings, observed(settings, cache))
    if args.output == "json":
        print(json.dumps(rows, indent=2))
    else:
        headers = [c.upper().replace("_", " ") for c in COLUMNS]
        print(render(headers, [[r[c] for c in COLUMNS] for r in rows]))
    return 0


def observed(
    settings: ControllerSettings, cache: PodCache
) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(read, write) IOPS per container now; empty when Prometheus is not set or fails.
    Standalone-cAdvisor series are mapped to pods through the cache, as the cycle does."""
    if not settings.prometheus_url:
        return {}
    try:
        with prometheus_source(settings) as source:
            current = source.current(time.time())
    except PrometheusError as error:
        log.warning("no observed IO: %s", error)
        return {}
    current = resolve_standalone(current, standalone_index(cache.snapshot().values()))
    keys = zip(current["namespace"], current["pod"], current["container"], strict=True)
    rates = zip(current["read_iops"], current["write_iops"], strict=True)
    return dict(zip(keys, rates, strict=True))


def status_rows(
    cache: PodCache,
    settings: ControllerSettings,
    rates: dict[tuple[str, str, str], tuple[float, float]],
) -> list[dict[str, str]]:
    rows = []
    for pod in sorted(cache.annotated(), key=lambda p: p.key):
        limits = classify(pod, settings.allow_exempt_namespaces)
        if limits.owner not in (Owner.CONTROLLER, Owner.PERSON):
            continue
        for container, held in sorted(limits.held.items()):
            read, write = rates.get((pod.namespace, pod.name, container), (float("nan"),) * 2)
            controller = limits.owner is Owner.CONTROLLER
            rows.append(
                {
                    "pod": f"{pod.namespace}/{pod.name}",
                    "container": container,
                    "limit": limit_text({"limit_" + d: v for d, v in held.values().items()}),
                    "by": f"controller {held.group}/{held.rule}" if controller else "person",
                    "since": format_time(held.since) if controller else "-",
                    "read_iops": figure(read),
                    "write_iops": figure(write),
                }
            )
    return rows
