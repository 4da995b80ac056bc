"""``iops-controller report``: current and recent limits, grouped by rule then namespace.

Formats: ``text`` (default), ``markdown``, ``json``, and ``alertmanager``: the webhook
payloads Alertmanager would deliver for these limits (one per group of ``--group-by``), for
any existing webhook consumer.
"""

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterable
from typing import Any

from controller.pods import PodCache, PodInfo
from controller.prometheus import PrometheusError
from controller.report import (
    LimitRecord,
    Report,
    render_alertmanager,
    render_json,
    render_markdown,
    render_text,
)
from controller.report_sources import gather_from_prometheus, records_in_force, with_rule_details
from controller.rule_files import RuleFileError, load_rules
from controller.settings import (
    ControllerSettings,
    add_settings_arguments,
    log_settings,
    settings_from,
)
from controller.wiring import kube_api, prometheus_source
from iops_limit.kube import KubeError
from iops_limit.settings import SettingsError, parse_list, parse_seconds

log = logging.getLogger(__name__)

FORMATS = ("text", "markdown", "json", "alertmanager")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report", help="limits in force and released recently, grouped by rule then namespace"
    )
    add_settings_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument(
        "--since", default="24h", help="how far back released limits are shown (24h)"
    )
    parser.add_argument(
        "--receiver", default="iops-limiter", help="receiver name in alertmanager payloads"
    )
    parser.add_argument(
        "--external-url", default="", help="Alertmanager's external URL in alertmanager payloads"
    )
    parser.add_argument(
        "--group-by",
        default="alertname,group,rule",
        help="the Alertmanager route's group_by, for alertmanager payloads (alertname,group,rule)",
    )
    parser.add_argument(
        "--route-key",
        default="{}",
        help="the route's key in groupKey: {} for the root route (default)",
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args, os.environ)
        settings.require_prometheus()
        window = parse_seconds(args.since)
    except (SettingsError, ValueError) as error:
        log.error("%s", error)
        return 2
    log_settings(settings, log)
    now = time.time()
    try:
        cache = PodCache(kube_api(settings))
        cache.sync()
    except KubeError as error:
        log.error("cannot list pods: %s", error)
        return 1
    in_force = records_in_force(cache.annotated(), settings.allow_exempt_namespaces)
    records = gather(settings, in_force, window, now, cache.snapshot().values())
    report = Report(records, now, window)
    if args.format == "text":
        output = render_text(report)
    elif args.format == "markdown":
        output = render_markdown(report)
    elif args.format == "json":
        output = render_json(report)
    else:
        output = render_alertmanager(
            report,
            group_by=parse_list(args.group_by),
            receiver=args.receiver,
            external_url=args.external_url,
            route_key=args.route_key,
        )
    sys.stdout.write(output)
    return 0


def gather(
    settings: ControllerSettings,
    current: list[LimitRecord],
    window: float,
    now: float,
    pods: Iterable[PodInfo],
) -> list[LimitRecord]:
    """Add history, observed IO and rule details; what cannot be read is left out, logged."""
    records = current
    try:
        with prometheus_source(settings) as source:
            records = gather_from_prometheus(
                source, current, window, now, pods=pods, min_hold=settings.min_hold
            )
    except PrometheusError as error:
        log.warning("Prometheus failed; limits in force only, no history or observed IO: %s", error)
    try:
        return with_rule_details(records, load_rules(settings.rules_path))
    except (RuleFileError, OSError) as error:
        log.warning(
            "rules in %s not read; severity and summary left out: %s", settings.rules_path, error
        )
        return records
