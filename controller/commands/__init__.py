"""The subcommands of ``iops-controller``; each module has ``register(subparsers)``."""

from types import ModuleType

COMMANDS: tuple[ModuleType, ...] = ()
