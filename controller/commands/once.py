"""``iops-controller once``: one cycle now, printing the decision table.

The first cycle of a fresh process reads the rules' ``for`` windows from Prometheus history, so
a container that has been over a threshold for longer than its ``for`` is limited by ``once``.
"""

import argparse
import json
import logging
import os
from typing import Any

import pandas as pd

from controller.kubeapi import KubeApi
from controller.pods import PodCache
from controller.rule_files import RuleFileError, load_rules
from controller.settings import add_settings_arguments, log_settings, settings_from
from controller.tables import figure, limit_text, render
from controller.wiring import build_cycle, kube_api, prometheus_source
from iops_limit.kube import KubeError
from iops_limit.settings import SettingsError

log = logging.getLogger(__name__)

COLUMNS = ["container", "read_iops", "write_iops", "rule", "decision", "limit", "reason"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "once", help="run one cycle and print the decision table (--dry-run patches nothing)"
    )
    add_settings_arguments(parser)
    parser.add_argument("--output", choices=("table", "json"), default="table")
    parser.add_argument(
        "--all", action="store_true", help="also list containers with nothing to decide"
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args, os.environ)
        settings.require_prometheus()
        rules = load_rules(settings.rules_path)
    except (SettingsError, RuleFileError) as error:
        log.error("%s", error)
        return 2
    log_settings(settings, log)
    try:
        api: KubeApi = kube_api(settings)
        cache = PodCache(api)
        cache.sync()
    except KubeError as error:
        log.error("cannot list pods: %s", error)
        return 1
    with prometheus_source(settings) as source:
        cycle = build_cycle(settings, api=api, cache=cache, source=source, rules=lambda: rules)
        result = cycle.run()
    if result is None:
        log.error("no decisions: Prometheus failed: %s", cycle.prometheus_error)
        return 1
    rows = decision_rows(result.decisions, everything=args.all)
    if args.output == "json":
        print(json.dumps(rows, indent=2))
    else:
        print(
            render(
                [c.upper().replace("_", " ") for c in COLUMNS],
                [[r[c] for c in COLUMNS] for r in rows],
            )
        )
        verb = "would patch" if result.dry_run else "patched"
        print(f"\n{len(result.changes) if result.dry_run else result.patched} pod(s) {verb}")
    return 0


def decision_rows(decisions: pd.DataFrame, everything: bool) -> list[dict[str, str]]:
    shown = decisions if everything else decisions[decisions["action"] != "none"]
    rows = []
    for record in shown.sort_values(["namespace", "pod", "container"]).to_dict("records"):
        group, rule = str(record.get("group") or ""), str(record.get("rule") or "")
        rows.append(
            {
                "container": f"{record['namespace']}/{record['pod']}/{record['container']}",
                "read_iops": figure(record.get("read_iops")),
                "write_iops": figure(record.get("write_iops")),
                "rule": f"{group}/{rule}" if group else "-",
                "decision": str(record["action"]),
                "limit": limit_text({str(k): v for k, v in record.items()}),
                "reason": str(record.get("reason") or ""),
            }
        )
    return rows
