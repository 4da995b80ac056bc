"""Durations written the Prometheus way: ``30s``, ``5m``, ``1h30m``, ``500ms``."""

import re

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?")


class DurationError(ValueError):
    """A duration string that is not of the form ``1h30m``."""


def parse_duration(text: str) -> float:
    """Return the duration in seconds; units d, h, m, s, ms, largest first, each at most once."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not text or match is None or not any(match.groups()):
        raise DurationError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m")
    parts = zip(match.groups(), ("d", "h", "m", "s", "ms"), strict=True)
    return sum(int(value) * _UNITS[unit] for value, unit in parts if value is not None)


def format_duration(seconds: float) -> str:
    """The shortest ``1h30m``-style text for a whole number of seconds (``0s`` for zero)."""
    remaining = round(seconds)
    out = []
    for unit in ("d", "h", "m", "s"):
        size = int(_UNITS[unit])
        if remaining >= size:
            out.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(out) or "0s"
