"""One typed settings object per program, where every field is an environment variable and a flag.

A program declares a frozen dataclass whose fields are made with :func:`setting`. The field
``prometheus_url`` is read from ``--prometheus-url``, else from ``PROMETHEUS_URL``, else its
default; a flag beats the variable. Values are parsed and checked once, at start-up, and an
invalid one is reported naming both the variable and the flag.
"""

import argparse
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from iops_limit.durations import DurationError, format_duration, parse_duration

T = TypeVar("T")
S = TypeVar("S")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting that is missing or cannot be parsed; the message names variable and flag."""


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_seconds(text: str) -> float:
    try:
        return parse_duration(text.strip())
    except DurationError as error:
        raise ValueError(str(error)) from None


def setting(
    default: T,
    help: str,
    *,
    parse: Callable[[str], Any] | None = None,
    secret: bool = False,
    required: bool = False,
    show: Callable[[Any], str] | None = None,
) -> T:
    """Declare one setting. ``parse`` defaults from the default's type (bool, int, float, str)."""
    metadata = {
        "help": help,
        "parse": parse or _parser_for(default),
        "secret": secret,
        "required": required,
        "show": show,
    }
    return dataclasses.field(default=default, metadata=metadata)


def duration_setting(default: str, help: str) -> float:
    """A duration setting: written like ``30s``, held as seconds."""
    return setting(parse_seconds(default), help, parse=parse_seconds, show=format_duration)


def _parser_for(default: object) -> Callable[[str], Any]:
    if isinstance(default, bool):
        return parse_bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if isinstance(default, tuple):
        return parse_list
    return str


def env_name(name: str) -> str:
    return name.upper()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type[Any]) -> None:
    """Add one flag per setting; defaults stay None so the environment can fill them."""
    for field in dataclasses.fields(cls):
        # A bare boolean flag (``--dry-run``) means true; ``--dry-run false`` still works.
        switch = {"nargs": "?", "const": "true"} if isinstance(field.default, bool) else {}
        parser.add_argument(
            flag_name(field.name),
            dest=field.name,
            default=None,
            metavar=env_name(field.name),
            help=f"{field.metadata['help']} (env {env_name(field.name)})",
            **switch,  # type: ignore[arg-type]
        )


def from_args(cls: type[S], args: argparse.Namespace, environ: Mapping[str, str]) -> S:
    """Build the settings object: flag, else environment variable, else default."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        raw = getattr(args, field.name, None)
        if raw is None:
            raw = environ.get(env_name(field.name))
        where = f"{env_name(field.name)} / {flag_name(field.name)}"
        if raw is None or raw == "":
            if field.metadata["required"]:
                raise SettingsError(f"{where} is required")
            continue
        try:
            values[field.name] = field.metadata["parse"](raw)
        except ValueError as error:
            shown = "***" if field.metadata["secret"] else repr(raw)
            raise SettingsError(f"invalid {where} {shown}: {error}") from None
    return cls(**values)


def describe(settings: object) -> dict[str, str]:
    """The effective settings as text for the start-up log, secrets masked."""
    out: dict[str, str] = {}
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, field.name)
        if field.metadata.get("show") is not None:
            # A secret's own ``show`` masks its secret part and keeps what helps debugging.
            text = field.metadata["show"](value)
        elif field.metadata.get("secret") and value:
            text = "***"
        elif isinstance(value, tuple):
            text = ",".join(str(item) for item in value)
        else:
            text = str(value)
        out[env_name(field.name)] = text
    return out
