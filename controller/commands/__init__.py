"""The subcommands of ``iops-controller``; each module has ``register(subparsers)``."""

from types import ModuleType

from controller.commands import check_rules, test_rules

COMMANDS: tuple[ModuleType, ...] = (check_rules, test_rules)
