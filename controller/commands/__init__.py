"""The subcommands of ``iops-controller``; each module has ``register(subparsers)``."""

from types import ModuleType

from controller.commands import once, run, status, watch

COMMANDS: tuple[ModuleType, ...] = (run, once, status, watch)
