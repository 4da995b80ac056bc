"""``iops-controller run``: the service (leader-elected cycles, metrics, rule hot reload)."""

import argparse
import logging
import os
import signal
import threading
from typing import Any

from controller.memory import tune_malloc
from controller.service import Service
from controller.settings import add_settings_arguments, log_settings, settings_from
from iops_limit.settings import SettingsError

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="run the controller: evaluate the rules every INTERVAL and patch pods"
    )
    add_settings_arguments(parser)
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args, os.environ)
        settings.require_prometheus()
    except SettingsError as error:
        log.error("%s", error)
        return 2
    log_settings(settings, log)
    tune_malloc()  # before the service starts its threads
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return Service(settings).run(stop)
