"""The subcommands of ``iops-controller``; each module has ``register(subparsers)``."""

from types import ModuleType

from controller.commands import check_rules, once, report, run, status, test_rules, watch

COMMANDS: tuple[ModuleType, ...] = (run, once, status, watch, check_rules, test_rules, report)
